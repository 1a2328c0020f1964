import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { LockLostError, LockTimeoutError, RedisLock, lock$, lockAll$, type LockAllOptions, type LockOptions, type MultiLease } from '../../src/index';
import { commandCalls } from '../faults/fault-kit';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';
import { spawnWorker, type WorkerProcess } from '../support/workers/spawn-worker';
import { sleep, subscribeLock, waitFor, within, type Holding } from './holding';

const redis = useRedis();
let timersBefore = 0;
const holdings: Holding<unknown>[] = [];
const servers: RedisServerHandle[] = [];
const serverClients: Redis[] = [];
const workers: WorkerProcess[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  for (const h of holdings.splice(0)) h.unsubscribe();
  for (const w of workers.splice(0)) {
    w.kill();
    await w.exited;
  }
  await expectQuiescent(timersBefore);
  await Promise.all(serverClients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function holdAll(names: string[], opts: LockAllOptions): Holding<MultiLease> {
  const h = subscribeLock(lockAll$(names, opts));
  holdings.push(h);
  return h;
}

function holdOne(name: string, opts: LockOptions): Holding {
  const h = subscribeLock(lock$(name, opts));
  holdings.push(h);
  return h;
}

/** Every lock state key under `prefix` (fence counters aside). */
async function stateKeys(client: Redis, prefix: string): Promise<string[]> {
  return (await client.keys(`${prefix}:lock:*`)).filter((k) => !k.endsWith(':fence')).sort();
}

async function settled(): Promise<void> {
  await waitFor(() => diagnostics.connectionUsers === 0, 3_000, 'everything released');
}

describe('lockAll$', () => {
  it('holds every name at once, each an ordinary lock with its own fence, and releases them all on unsubscribe', async () => {
    const client = redis.client();
    const prefix = redis.prefix();
    const opts = { redis: client, prefix };
    const all = holdAll(['c', 'a', 'b'], opts);
    const lease = await within(all.acquired, 2_000, 'the multi-lock');
    expect(lease).toMatchObject({ names: ['c', 'a', 'b'], prefix, mode: 'write', ttl: 0 });
    expect(Object.keys(lease.fences).sort()).toEqual(['a', 'b', 'c']);
    for (const fence of Object.values(lease.fences)) expect(Number.isSafeInteger(fence) && fence > 0).toBe(true);
    expect(Object.isFrozen(lease) && Object.isFrozen(lease.fences)).toBe(true);
    expect(await stateKeys(client, prefix)).toEqual([`${prefix}:lock:{a}`, `${prefix}:lock:{b}`, `${prefix}:lock:{c}`]);

    // A single lock of one of the names is excluded...
    const single = holdOne('b', { ...opts, timeout: 0 });
    await expect(single.acquired).rejects.toBeInstanceOf(LockTimeoutError);
    // ... and gets it once the multi-lock is released, with a greater fence.
    all.unsubscribe();
    expect(lease.signal.aborted).toBe(true);
    const after = holdOne('b', { ...opts, timeout: 2_000 });
    expect((await after.acquired).fence).toBeGreaterThan(lease.fences.b!);
    after.unsubscribe();
    await settled();
    expect(await stateKeys(client, prefix)).toEqual([]);
  });

  it('waits for a RedisLock of one name sending nothing, then takes all at its release; the RedisLock then waits for it', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const admin = new Redis(server.url);
    serverClients.push(admin);
    const opts = { redis: server.url, prefix: 'idle' };

    const single = new RedisLock('m', opts);
    expect(await single.acquire()).toBe(true);
    const all = holdAll(['z', 'm', 'a'], opts);
    await waitFor(() => diagnostics.waitQueues === 1, 3_000, 'the multi-lock queued');
    await sleep(200); // its first attempts and subscriptions settle
    await admin.config('RESETSTAT');
    await sleep(1_200);
    const duringWait = await commandCalls(admin);
    const others = Object.keys(duringWait).filter((c) => !/^(info|config\|resetstat)$/.test(c));
    expect(others, JSON.stringify(duringWait)).toEqual([]);
    expect(all.leases).toHaveLength(0);
    // Nothing was taken on the way: the other names stay free for anyone.
    const probe = holdOne('a', { ...opts, timeout: 0 });
    await within(probe.acquired, 2_000, 'a free name');
    probe.unsubscribe();

    await single.release();
    const lease = await within(all.acquired, 2_000, 'the multi-lock after the release');
    expect(Object.keys(lease.fences).sort()).toEqual(['a', 'm', 'z']);
    expect(await single.acquire({ timeout: 0 })).toBe(false);
    const second = single.acquire({ timeout: 2_000 });
    all.unsubscribe();
    expect(await second).toBe(true);
    await single.release();
  });

  it('a timeout while another holds one name leaves none held and no key of its own', async () => {
    const client = redis.client();
    const prefix = redis.prefix();
    const opts = { redis: client, prefix };
    const blocker = holdOne('b', opts);
    await blocker.acquired;
    const started = performance.now();
    const all = holdAll(['a', 'b', 'c'], { ...opts, timeout: 200 });
    const error = await all.acquired.catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect((error as LockTimeoutError).message).toBe("lock 'a, b, c' not acquired within 200 ms");
    expect(performance.now() - started).toBeGreaterThanOrEqual(195);
    expect(await stateKeys(client, prefix)).toEqual([`${prefix}:lock:{b}`]);

    const one = holdAll(['a', 'b'], { ...opts, timeout: 0 });
    await expect(one.acquired).rejects.toBeInstanceOf(LockTimeoutError);
    blocker.unsubscribe();
    await settled();
    expect(await stateKeys(client, prefix)).toEqual([]);
  });

  it('an abort while waiting errors with its reason and leaves nothing held', async () => {
    const client = redis.client();
    const prefix = redis.prefix();
    const blocker = holdOne('y', { redis: client, prefix, mode: 'read' });
    await blocker.acquired;
    const controller = new AbortController();
    const all = holdAll(['x', 'y'], { redis: client, prefix, signal: controller.signal });
    await waitFor(() => diagnostics.waitQueues === 1, 2_000, 'the multi-lock queued');
    // A writer blocked by readers keeps new readers out while it waits (its mark)...
    const reader = holdOne('y', { redis: client, prefix, mode: 'read', timeout: 0 });
    await expect(reader.acquired).rejects.toBeInstanceOf(LockTimeoutError);
    const reason = new Error('stop');
    controller.abort(reason);
    await expect(all.acquired).rejects.toBe(reason);
    // ... and takes it back when it gives up.
    const readerAfter = holdOne('y', { redis: client, prefix, mode: 'read', timeout: 0 });
    await within(readerAfter.acquired, 2_000, 'a reader after the abort');
    readerAfter.unsubscribe();
    blocker.unsubscribe();
    await settled();
    expect(await stateKeys(client, prefix)).toEqual([]);
  });

  it("mode 'read' shares every name with readers and other read multi-locks, and excludes writers", async () => {
    const client = redis.client();
    const prefix = redis.prefix();
    const opts = { redis: client, prefix };
    const reader = holdOne('p', { ...opts, mode: 'read' });
    await reader.acquired;
    const first = holdAll(['p', 'q'], { ...opts, mode: 'read' });
    const second = holdAll(['q', 'r', 'p'], { ...opts, mode: 'read' });
    const [a, b] = await within(Promise.all([first.acquired, second.acquired]), 2_000, 'two read multi-locks');
    expect(a.mode).toBe('read');
    expect(b.fences.q).not.toBe(a.fences.q);
    const writer = holdOne('q', { ...opts, timeout: 0 });
    await expect(writer.acquired).rejects.toBeInstanceOf(LockTimeoutError);
    const writeAll = holdAll(['r', 's'], { ...opts, timeout: 0 });
    await expect(writeAll.acquired).rejects.toBeInstanceOf(LockTimeoutError);
    expect(await stateKeys(client, prefix)).toEqual([`${prefix}:lock:{p}`, `${prefix}:lock:{q}`, `${prefix}:lock:{r}`]);
  });

  it("waits behind a name's fair line, and takes every name once the line is empty", async () => {
    const client = redis.client();
    const prefix = redis.prefix();
    const opts = { redis: client, prefix };
    const holder = holdOne('f', { ...opts, fair: true });
    await holder.acquired;
    const fairWaiter = holdOne('f', { ...opts, fair: true });
    await waitFor(() => diagnostics.waitQueues === 1, 2_000, 'the fair waiter queued');
    await sleep(50);
    const all = holdAll(['g', 'f'], opts);
    await waitFor(() => diagnostics.waitQueues === 2, 2_000, 'the multi-lock queued');
    holder.unsubscribe();
    // The line goes first: the release hands 'f' to the fair waiter, not to the multi-lock.
    await within(fairWaiter.acquired, 2_000, 'the fair waiter');
    await sleep(50);
    expect(all.leases).toHaveLength(0);
    fairWaiter.unsubscribe();
    const lease = await within(all.acquired, 2_000, 'the multi-lock after the line');
    expect(lease.fences.f).toBeGreaterThan((await fairWaiter.acquired).fence);
  });

  it('losing one name (force release) ends the lease naming it, signal first, and releases the others', async () => {
    const client = redis.client();
    const prefix = redis.prefix();
    // A renewal every 500 ms finds the loss; the lease is long enough for a loaded machine to renew in time.
    const all = holdAll(['k1', 'k2', 'k3'], { redis: client, prefix, lease: 1_500 });
    const lease = await all.acquired;
    let abortedFirst = false;
    lease.signal.addEventListener('abort', () => (abortedFirst = all.ending() === undefined));
    await new RedisLock('k2', { redis: client, prefix }).release({ force: true });
    const ending = await within(all.ended, 3_000, 'the loss');
    expect(ending.kind).toBe('error');
    const error = (ending as { error: unknown }).error;
    expect(error).toBeInstanceOf(LockLostError);
    expect(error).toMatchObject({ lock: 'k2', reason: 'gone' });
    expect(abortedFirst).toBe(true);
    expect(lease.signal.reason).toBe(error);
    await settled();
    expect(await stateKeys(client, prefix)).toEqual([]);
  });

  it('a fixed ttl that runs out ends the lease with an expired LockLostError naming a name', async () => {
    const all = holdAll(['t1', 't2'], { redis: redis.client(), prefix: redis.prefix(), ttl: 150 });
    await all.acquired;
    const ending = await within(all.ended, 2_000, 'the expiry');
    const error = (ending as { error: unknown }).error;
    expect(error).toBeInstanceOf(LockLostError);
    expect((error as LockLostError).reason).toBe('expired');
    expect(['t1', 't2']).toContain((error as LockLostError).lock);
  });

  it('refuses bad names and options before any Redis I/O', () => {
    const lazy = new Redis(redis.url, { lazyConnect: true });
    try {
      const opts = { redis: lazy };
      expect(() => lockAll$([], opts)).toThrow(new RangeError('names must not be empty: a multi-lock takes at least one name'));
      expect(() => lockAll$(['a', 'b', 'a'], opts)).toThrow(
        new RangeError("names must not repeat a name: 'a' appears more than once"),
      );
      const many = Array.from({ length: 1_001 }, (_, i) => `n${i}`);
      expect(() => lockAll$(many, opts)).toThrow(new RangeError('names holds 1001 names; the maximum is 1000'));
      expect(() => lockAll$(many.slice(0, 1_000), opts)).not.toThrow();
      expect(() => lockAll$('a' as unknown as string[], opts)).toThrow(TypeError);
      expect(() => lockAll$(['a', ''], opts)).toThrow(RangeError);
      expect(() => lockAll$(['a', 3 as unknown as string], opts)).toThrow(TypeError);
      expect(() => lockAll$(['a'], { ...opts, fair: true as false })).toThrow(/lockAll\$ does not take fair: true/);
      expect(() => lockAll$(['a'], { ...opts, timout: 5 } as LockAllOptions)).toThrow(
        /unknown option 'timout' in lockAll\$ options \(did you mean 'timeout'\?\)/,
      );
      expect(() => lockAll$(['a'], { ...opts, mode: 'shared' as 'read' })).toThrow(TypeError);
      expect(lazy.status).toBe('wait');
      expect(diagnostics.connectionUsers).toBe(0);
    } finally {
      lazy.disconnect();
    }
  });

  // Child processes start node: slow on a loaded machine, hence the long bound.
  it('4 processes taking random overlapping sets in random orders all finish, and every name stays exclusive', { timeout: 120_000 }, async () => {
    const prefix = redis.prefix();
    const env = { REDIS_URL: redis.url, PREFIX: prefix, NAMES: '6', SET_SIZE: '3', ITERATIONS: '20' };
    const running = Array.from({ length: 4 }, () => {
      const w = spawnWorker('./multi-counter.ts', env);
      workers.push(w);
      return w;
    });
    const results = await within(
      Promise.all(running.map((w) => w.message((m) => m.done === true, 90_000))),
      95_000,
      'the workers (a deadlock would never finish)',
    );
    const sections = results.flatMap((r) => r.sections as { name: string; read: number; fence: number }[]);
    expect(sections).toHaveLength(4 * 20 * 3);
    const client = redis.client();
    for (const name of new Set(sections.map((s) => s.name))) {
      const mine = sections.filter((s) => s.name === name).sort((a, b) => a.read - b.read);
      // No update lost: every section read what the one before it wrote, and fences follow that order.
      expect(await client.get(`${prefix}:counter:${name}`)).toBe(String(mine.length));
      expect(mine.map((s) => s.read)).toEqual(mine.map((_, i) => i));
      for (let i = 1; i < mine.length; i++) expect(mine[i]!.fence).toBeGreaterThan(mine[i - 1]!.fence);
    }
    expect(await stateKeys(client, prefix)).toEqual([]);
  });
});
