import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { firstValueFrom, take } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { LockError, lock$, type LockOptions } from '../../src/index';
import { lockKeys } from '../../src/redis/keys';
import { FENCE_RETENTION_MS, LockTarget } from '../../src/redis/kinds/lock-kind';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { sleep } from '../core/holding';
import { waitFor } from '../core/holding';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';

const redis = useRedis();
let timersBefore = 0;
const servers: RedisServerHandle[] = [];
const subscriptions: { unsubscribe(): void }[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  await expectQuiescent(timersBefore);
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const token = (): string => randomBytes(16).toString('hex');

/** The first thing lock$ delivers: its Lease, or its error. */
function outcome(name: string, opts: LockOptions): Promise<{ lease?: unknown; error?: unknown }> {
  return new Promise((resolve) => {
    subscriptions.push(lock$(name, opts).subscribe({ next: (lease) => resolve({ lease }), error: (error: unknown) => resolve({ error }) }));
  });
}

/** Acquires `name`, then resolves once the release that follows has been answered. */
async function acquireAndRelease(name: string, opts: LockOptions): Promise<void> {
  await firstValueFrom(lock$(name, { timeout: 5_000, ...opts }).pipe(take(1)));
  await waitFor(() => diagnostics.connectionUsers === 0);
}

describe('lock scripts', () => {
  it('acquire is idempotent per owner token: a resent command gets the same fence and the time the first hold has left', async () => {
    const client = redis.client();
    for (const mode of ['w', 'r'] as const) {
      const keys = lockKeys(redis.prefix(), 'scripted', 0);
      const target = new LockTarget(client, keys, mode);
      const writer = new LockTarget(client, keys, 'w');
      const owner = token();
      const first = await target.acquire(owner, 5_000, false);
      expect(first).toEqual({ acquired: true, fence: expect.any(Number) as number, leftMs: 5_000 });
      await sleep(60);
      const again = await target.acquire(owner, 5_000, false);
      if (!again.acquired || !first.acquired) throw new Error('not acquired');
      // Not a new hold: the retry must not count the hold from its own send.
      expect(again.fence).toBe(first.fence);
      expect(again.leftMs).toBeLessThanOrEqual(5_000 - 50);
      expect(again.leftMs).toBeGreaterThan(3_000);
      const other = await writer.acquire(token(), 5_000, false);
      expect(other).toMatchObject({ acquired: false });
    }
  });

  it('no key lives forever: the state lives as long as the hold, the fence for the hold plus its retention', async () => {
    const client = redis.client();
    const prefix = redis.prefix();
    const keys = lockKeys(prefix, 'mortal', 0);
    let held!: { unsubscribe(): void };
    await new Promise((resolve, reject) => {
      held = lock$('mortal', { redis: client, prefix, lease: 2_000 }).subscribe({ next: resolve, error: reject });
      subscriptions.push(held);
    });

    const statePttl = await client.pttl(keys.state);
    const fencePttl = await client.pttl(keys.fence);
    expect(statePttl).toBeGreaterThan(0);
    expect(statePttl).toBeLessThanOrEqual(2_000);
    expect(fencePttl).toBeGreaterThan(FENCE_RETENTION_MS);
    expect(fencePttl).toBeLessThanOrEqual(FENCE_RETENTION_MS + 2_000);

    held.unsubscribe();
    await waitFor(() => diagnostics.connectionUsers === 0);
    expect(await client.exists(keys.state)).toBe(0);
    expect(await client.pttl(keys.fence)).toBeGreaterThan(0);
  });

  it('loads the scripts again on a server that forgot them (SCRIPT FLUSH, restart)', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const client = new Redis(server.url);
    client.on('error', () => undefined);
    try {
      await acquireAndRelease('reloaded', { redis: client });
      await client.script('FLUSH');
      await acquireAndRelease('reloaded', { redis: client });
      await server.restart();
      await acquireAndRelease('reloaded', { redis: client });
    } finally {
      client.disconnect();
    }
  });
});

describe('a foreign value at a lock key', () => {
  it('a plain string makes lock$ error with a LockError, and the value is left untouched', async () => {
    const prefix = redis.prefix();
    const client = redis.client();
    const { state } = lockKeys(prefix, 'taken', 0);
    await client.set(state, 'not a lock');

    const { lease, error } = await outcome('taken', { redis: redis.client(), prefix });
    expect(lease).toBeUndefined();
    expect(error).toBeInstanceOf(LockError);
    expect((error as Error).message).toMatch(/not write/);
    expect((error as Error).message).toContain(state);
    expect(await client.get(state)).toBe('not a lock');
    expect(await client.pttl(state)).toBe(-1);
  });

  it('a hash that yadl did not write (no expiry field) is refused as well', async () => {
    const prefix = redis.prefix();
    const client = redis.client();
    const { state } = lockKeys(prefix, 'hashed', 0);
    await client.hset(state, { w: 'someone' });

    const { error } = await outcome('hashed', { redis: redis.client(), prefix });
    expect(error).toBeInstanceOf(LockError);
    expect((error as Error).message).toMatch(/not writ/);
    expect(await client.hgetall(state)).toEqual({ w: 'someone' });
  });

  it('a fence counter that is not a number is refused, and left untouched', async () => {
    const prefix = redis.prefix();
    const client = redis.client();
    const { fence } = lockKeys(prefix, 'fence-taken', 0);
    await client.set(fence, 'not a number');

    const { error } = await outcome('fence-taken', { redis: redis.client(), prefix });
    expect(error).toBeInstanceOf(LockError);
    expect((error as Error).message).toMatch(/not writ/);
    expect(await client.get(fence)).toBe('not a number');
  });
});
