import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockError, LockLostError, LockTimeoutError, lock$, type Lease, type LockOptions } from '../../src/index';
import { lockKeys } from '../../src/redis/keys';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';
import { sleep, subscribeLock, within, type Ending, type Holding } from './holding';

const redis = useRedis();
let timersBefore = 0;
const holdings: Holding[] = [];
const servers: RedisServerHandle[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  for (const h of holdings.splice(0)) h.unsubscribe();
  for (const s of servers) s.kill('SIGCONT');
  await expectQuiescent(timersBefore);
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function hold(name: string, opts: LockOptions): Holding {
  const h = subscribeLock(lock$(name, opts));
  holdings.push(h);
  return h;
}

/** Records when the lease's signal aborted, and whether the observable had already errored then. */
function watchSignal(lease: Lease, h: Holding): { at?: number; endingThen?: Ending } {
  const seen: { at?: number; endingThen?: Ending } = {};
  lease.signal.addEventListener('abort', () => {
    seen.at = performance.now();
    seen.endingThen = h.ending();
  });
  return seen;
}

function errorOf(ending: Ending): unknown {
  return ending.kind === 'error' ? ending.error : undefined;
}

describe('fixed ttl', () => {
  it('the holder loses the lock at the ttl (signal first), and a waiter gets it promptly after', async () => {
    const opts = { redis: redis.client(), prefix: redis.prefix() };
    const holder = hold('fixed', { ...opts, ttl: 300 });
    const lease = await holder.acquired;
    const acquiredAt = holder.leases[0]!.at;
    const signal = watchSignal(lease, holder);
    const waiter = hold('fixed', opts);
    expect(lease.ttl).toBe(300);

    const ending = await within(holder.ended, 3_000, 'the expiry');
    const error = errorOf(ending);
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ reason: 'expired', lock: 'fixed' });
    expect(signal.at).toBeDefined();
    expect(signal.endingThen).toBeUndefined(); // the signal aborted before the error was delivered
    expect(lease.signal.reason).toBe(error);
    // Redis started the hold between the subscribe and the Lease: bound each side from the right one.
    expect(ending.at - holder.subscribedAt).toBeGreaterThan(250);
    expect(ending.at - acquiredAt).toBeLessThan(300 + 200); // due a little before 300; timers can be late

    const next = await within(waiter.acquired, 3_000, 'the waiter');
    const nextAt = waiter.leases[0]!.at;
    expect(nextAt - holder.subscribedAt).toBeGreaterThanOrEqual(290);
    expect(nextAt - acquiredAt).toBeLessThan(300 + 500); // the deadline, not Redis' lazy expiry seconds later
    expect(next.fence).toBeGreaterThan(lease.fence);
    expect(ending.at).toBeLessThan(nextAt); // the holder knew before the next one held
  });

  it('a fixed hold is not renewed: its key expires in Redis at the ttl', async () => {
    const client = redis.client();
    const prefix = redis.prefix();
    const h = hold('fixed-key', { redis: client, prefix, ttl: 2_000, lease: 90 });
    await h.acquired;
    const { state } = lockKeys(prefix, 'fixed-key', 0);
    await sleep(300); // several lease/3 periods: a renewal would push the expiry back
    const left = await client.pttl(state);
    expect(left).toBeGreaterThan(1_000);
    expect(left).toBeLessThanOrEqual(1_700);
  });
});

describe('renewed lease (no ttl)', () => {
  it('outlives three leases, excludes others meanwhile, and is free after release', async () => {
    const client = redis.client();
    const prefix = redis.prefix();
    const holder = hold('long', { redis: client, prefix, lease: 300 });
    const lease = await holder.acquired;
    await sleep(1_100);

    expect(holder.ending()).toBeUndefined();
    expect(lease.signal.aborted).toBe(false);
    const { state } = lockKeys(prefix, 'long', 0);
    const left = await client.pttl(state);
    expect(left).toBeGreaterThan(0); // renewed, never persistent
    expect(left).toBeLessThanOrEqual(300);
    const rival = hold('long', { redis: client, prefix, timeout: 0 });
    expect(errorOf(await within(rival.ended, 2_000, 'the rival'))).toBeInstanceOf(LockTimeoutError);

    holder.unsubscribe();
    expect(lease.signal.reason).toBeInstanceOf(LockError);
    expect(lease.signal.reason).not.toBeInstanceOf(LockLostError);
    const next = hold('long', { redis: client, prefix, timeout: 0 });
    await within(next.acquired, 2_000, 'the next holder');
  });

  it("errors with reason 'gone' when its key is deleted behind its back", async () => {
    const client = redis.client();
    const prefix = redis.prefix();
    const holder = hold('deleted', { redis: client, prefix, lease: 300 });
    const lease = await holder.acquired;
    const signal = watchSignal(lease, holder);
    const deletedAt = performance.now();
    await redis.client().del(lockKeys(prefix, 'deleted', 0).state);

    const ending = await within(holder.ended, 2_000, 'the loss');
    expect(errorOf(ending)).toMatchObject({ name: 'LockLostError', reason: 'gone' });
    expect(signal.endingThen).toBeUndefined();
    expect(lease.signal.reason).toBe(errorOf(ending));
    expect(ending.at - deletedAt).toBeLessThan(300); // found by the next renewal, every lease/3
  });

  it("errors with reason 'unconfirmed' when Redis stops answering before the lease runs out", async () => {
    const server = await startRedisServer();
    servers.push(server);
    const client = new Redis(server.url, { maxRetriesPerRequest: 1 });
    client.on('error', () => undefined);
    try {
      const holder = hold('stalled', { redis: client, lease: 300 });
      const lease = await holder.acquired;
      const acquiredAt = holder.leases[0]!.at;
      server.kill('SIGSTOP');

      const ending = await within(holder.ended, 3_000, 'the loss');
      server.kill('SIGCONT');
      expect(errorOf(ending)).toMatchObject({ name: 'LockLostError', reason: 'unconfirmed' });
      expect(lease.signal.aborted).toBe(true);
      // Declared lost when the lease runs out (due a little before 300 ms; timers can be late).
      expect(ending.at - holder.subscribedAt).toBeGreaterThan(250);
      expect(ending.at - acquiredAt).toBeLessThan(300 + 200);
      await expectQuiescent(timersBefore);
    } finally {
      server.kill('SIGCONT');
      client.disconnect();
    }
  });
});
