/**
 * semaphore$ on the shared test server: permits are leased, fenced holds;
 * the limit lives in Redis and the stored one wins; multi-permit grants are
 * atomic; the default mode lets any request that fits go, the fair line
 * keeps order; releases wake enough waiters, expiries free permits at the
 * holder's deadline; only the server's clock counts.
 */
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockError, LockLostError, LockTimeoutError, lock$, semaphore$, type SemaphoreLease, type SemaphoreOptions } from '../../src/index';
import { semaphoreKeys } from '../../src/redis/keys';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { sleep, subscribeLock, within, type Holding } from './holding';

const redis = useRedis();
let timersBefore = 0;
const holdings: Holding[] = [];
let client: Redis;
let prefix = '';

beforeEach(() => {
  timersBefore = activeTimers();
  client = redis.client();
  prefix = redis.prefix();
});

afterEach(async () => {
  for (const h of holdings.splice(0)) h.unsubscribe();
  await expectQuiescent(timersBefore);
});

function take(name: string, options: SemaphoreOptions = {}): Holding {
  const h = subscribeLock(semaphore$(name, { redis: client, prefix, ...options }));
  holdings.push(h);
  return h;
}

async function granted(h: Holding, ms = 2_000): Promise<SemaphoreLease> {
  return (await within(h.acquired, ms, 'the grant')) as SemaphoreLease;
}

async function failure(h: Holding, ms = 2_000): Promise<unknown> {
  const ending = await within(h.ended, ms, 'the failure');
  if (ending.kind !== 'error') throw new Error('completed instead of failing');
  return ending.error;
}

function state(name: string): Promise<Record<string, string>> {
  return client.hgetall(semaphoreKeys(prefix, name, 0).state);
}

describe('semaphore$: grants', () => {
  it('emits a lease with its permits and a fence; grants of several permits share the limit', async () => {
    const a = await granted(take('s', { limit: 5, permits: 3 }));
    const b = await granted(take('s', { permits: 2 }));
    expect([a.permits, b.permits, a.name, a.prefix, a.ttl]).toEqual([3, 2, 's', prefix, 0]);
    expect(b.fence).toBeGreaterThan(a.fence);
    expect(a.token).not.toBe(b.token);
    const third = take('s', { permits: 1, timeout: 0 });
    expect(await failure(third)).toBeInstanceOf(LockTimeoutError);
  });

  it('a multi-permit grant is all or nothing: a waiter for 3 of which 2 are free takes none until 3 are', async () => {
    const one = take('s', { limit: 3 });
    await granted(one);
    const three = take('s', { permits: 3 });
    await sleep(100);
    expect(three.leases).toHaveLength(0);
    const fields = Object.keys(await state('s')).filter((f) => f.startsWith('p:'));
    expect(fields, 'only the first grant is recorded').toHaveLength(1);
    one.unsubscribe();
    expect((await granted(three)).permits).toBe(3);
  });

  it("a release of k permits wakes enough waiters to use them, in this process and another's client", async () => {
    const big = take('s', { limit: 3, permits: 3 });
    await granted(big);
    const other = redis.client();
    const waiters = [take('s'), take('s'), subscribeLock(semaphore$('s', { redis: other, prefix }))];
    holdings.push(waiters[2] as Holding);
    await sleep(100);
    big.unsubscribe();
    const leases = await within(Promise.all(waiters.map((w) => w.acquired)), 2_000, 'all three grants');
    expect(new Set(leases.map((l) => l.fence)).size).toBe(3);
  });

  it('default mode: a big request does not hold up smaller ones behind it, even in its own process', async () => {
    await granted(take('s', { limit: 3, permits: 2 }));
    const big = take('s', { permits: 3 });
    await sleep(50);
    const small = take('s', { permits: 1 });
    expect((await granted(small, 1_000)).permits).toBe(1);
    expect(big.leases).toHaveLength(0);
  });

  it('fair: true keeps the line: the head blocks later, smaller requests until it is served', async () => {
    const holder = take('s', { limit: 3, permits: 2, fair: true });
    await granted(holder);
    const big = take('s', { permits: 3, fair: true });
    await sleep(50);
    const small = take('s', { permits: 1, fair: true });
    await sleep(200);
    expect([big.leases.length, small.leases.length], 'one permit free, yet the small one waits behind the head').toEqual([0, 0]);
    holder.unsubscribe();
    await granted(big);
    expect(small.leases).toHaveLength(0);
    big.unsubscribe();
    await granted(small);
  });

  it('a fair waiter that gives up leaves the line at once: the one behind it is served next', async () => {
    const holder = take('s', { limit: 2, permits: 2, fair: true });
    await granted(holder);
    const head = take('s', { permits: 2, fair: true, timeout: 150 });
    await sleep(50);
    const next = take('s', { permits: 1, fair: true });
    expect(await failure(head)).toBeInstanceOf(LockTimeoutError);
    await sleep(50);
    expect(Object.keys(await state('s')).filter((f) => f.startsWith('t:')), 'one ticket left: the waiter behind').toHaveLength(1);
    holder.unsubscribe();
    expect((await granted(next, 1_000)).permits).toBe(1);
  });

  // Regression: the local queue tried only its head, which had joined the line last, so the line's head never went.
  it('a waiter that joined the fair line after others of its own process does not hold them up', async () => {
    const holder = take('s', { limit: 1 });
    await granted(holder);
    const early = take('s');
    await sleep(50);
    const fair = take('s', { fair: true });
    await sleep(50);
    holder.unsubscribe();
    await granted(fair, 1_000);
    fair.unsubscribe();
    await granted(early, 1_000);
  });

  it('a killed grant (fixed ttl) frees its permits at its expiry: the waiter gets in then, not before', async () => {
    const ttl = 400;
    const started = performance.now();
    await granted(take('s', { limit: 1, ttl }));
    const waiter = take('s');
    const lease = await granted(waiter, ttl + 1_500);
    const waited = (waiter.leases[0]?.at ?? 0) - started;
    expect(waited).toBeGreaterThanOrEqual(ttl - 50);
    expect(lease.permits).toBe(1);
  });

  it('a grant deleted under its holder ends with LockLostError, its signal aborted first', async () => {
    const h = take('s', { limit: 2, lease: 300 });
    const lease = await granted(h);
    let abortedFirst = false;
    lease.signal.addEventListener('abort', () => (abortedFirst = h.ending() === undefined));
    await client.del(semaphoreKeys(prefix, 's', 0).state);
    const error = await failure(h, 2_000);
    expect(error).toBeInstanceOf(LockLostError);
    expect((error as LockLostError).reason).toBe('gone');
    expect(abortedFirst).toBe(true);
  });

  it('a semaphore and a lock of one name are independent, and a semaphore is one hash under its own hash tag', async () => {
    await granted(take('x', { limit: 1 }));
    const lock = subscribeLock(lock$('x', { redis: client, prefix }));
    holdings.push(lock);
    await within(lock.acquired, 2_000, 'the lock of the same name');
    const keys = (await client.keys(`${prefix}:*`)).sort();
    expect(keys).toEqual([`${prefix}:lock:{x}`, `${prefix}:lock:{x}:fence`, `${prefix}:semaphore:{x}`]);
    expect(semaphoreKeys(prefix, 'x', 0).channel).toBe(`__keyspace@0__:${prefix}:semaphore:{x}`);
  });
});

describe('semaphore$: the limit lives in Redis', () => {
  it('the first acquisition stores it; later ones need none', async () => {
    await granted(take('s', { limit: 2 }));
    expect((await state('s')).lim).toBe('2');
    await granted(take('s'));
    expect(await failure(take('s', { timeout: 0 }))).toBeInstanceOf(LockTimeoutError);
  });

  it('a different limit rejects with a LockError naming both values, and changes nothing', async () => {
    await granted(take('s', { limit: 2 }));
    const before = await state('s');
    const error = await failure(take('s', { limit: 3 }));
    expect(error).toBeInstanceOf(LockError);
    expect((error as Error).message).toMatch(/limit 3.*stored in Redis is 2/);
    expect(await state('s')).toEqual(before);
  });

  it('no limit stored and none passed: a LockError that says to pass one, and nothing written', async () => {
    const error = await failure(take('fresh'));
    expect(error).toBeInstanceOf(LockError);
    expect((error as Error).message).toMatch(/no limit stored.*pass one/);
    expect(await client.exists(semaphoreKeys(prefix, 'fresh', 0).state)).toBe(0);
  });

  it('permits above the stored limit reject with RangeError once the limit is read', async () => {
    await granted(take('s', { limit: 2, permits: 1 }));
    const error = await failure(take('s', { permits: 3 }));
    expect(error).toBeInstanceOf(RangeError);
    expect((error as Error).message).toMatch(/at most the limit .* \(2\), got 3/);
  });

  it('when nothing is held and the state has expired, the next acquisition stores its limit anew', async () => {
    const first = take('s', { limit: 2 });
    await granted(first);
    first.unsubscribe();
    await sleep(50);
    // The state outlives its holds by the fence retention (10 min): let it expire now instead.
    await client.pexpire(semaphoreKeys(prefix, 's', 0).state, 1);
    await sleep(20);
    await granted(take('s', { limit: 5, permits: 5 }));
    expect((await state('s')).lim).toBe('5');
  });
});

describe('semaphore$: only the server clock counts', () => {
  for (const shiftHours of [5, -5]) {
    it(`Date shifted by ${shiftHours} h changes nothing: expiries and waits follow Redis TIME`, async () => {
      const RealDate = Date;
      const shift = shiftHours * 3_600_000;
      class ShiftedDate extends RealDate {
        constructor(...args: []) {
          if (args.length === 0) super(RealDate.now() + shift);
          else super(...(args as unknown as [number]));
        }

        static override now(): number {
          return RealDate.now() + shift;
        }
      }
      globalThis.Date = ShiftedDate as DateConstructor;
      try {
        const ttl = 400;
        const started = performance.now();
        const first = await granted(take('s', { limit: 1, ttl }));
        const [seconds, micros] = await client.time();
        const serverNow = Number(seconds) * 1000 + Math.floor(Number(micros) / 1000);
        const recorded = (await state('s'))[`p:${first.token}`] ?? '';
        const expiry = Number(recorded.split(':')[0]);
        expect(Math.abs(expiry - (serverNow + ttl)), 'the grant expires ttl after the server clock').toBeLessThan(1_000);
        const waiter = take('s');
        const second = await granted(waiter, ttl + 1_500);
        expect((waiter.leases[0]?.at ?? 0) - started).toBeGreaterThanOrEqual(ttl - 50);
        expect(second.fence).toBeGreaterThan(first.fence);
      } finally {
        globalThis.Date = RealDate;
      }
    });
  }
});
