import { Redis } from 'ioredis';
import { firstValueFrom, from, map, mergeMap, range, switchMap, take, timer, toArray } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { LockError, LockLostError, LockTimeoutError, lock$, type LockOptions } from '../../src/index';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { sleep, subscribeLock, waitFor, within, type Holding } from './holding';

const redis = useRedis();
let timersBefore = 0;
const holdings: Holding[] = [];
const lazyClients: Redis[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  for (const h of holdings.splice(0)) h.unsubscribe();
  for (const c of lazyClients.splice(0)) c.disconnect();
  await expectQuiescent(timersBefore);
});

/** Options of one lock for one test: a shared client and a fresh prefix. */
function lockOptions(): LockOptions {
  return { redis: redis.client(), prefix: redis.prefix() };
}

function hold(name: string, opts: LockOptions): Holding {
  const h = subscribeLock(lock$(name, opts));
  holdings.push(h);
  return h;
}

/** A client that never connected: its status stays 'wait' as long as nothing is sent through it. */
function lazyClient(): Redis {
  const c = new Redis(redis.url, { lazyConnect: true });
  lazyClients.push(c);
  return c;
}

describe('lock$: the observable contract', () => {
  it('is cold: nothing is sent before subscribe, and each subscription acquires with its own token', async () => {
    const client = lazyClient();
    const lock = lock$('cold', { redis: client, prefix: redis.prefix() });
    await sleep(20);
    expect(client.status).toBe('wait');
    expect(diagnostics.connectionUsers).toBe(0);

    const first = subscribeLock(lock);
    holdings.push(first);
    const a = await first.acquired;
    const second = subscribeLock(lock);
    holdings.push(second);
    await sleep(50);
    expect(second.leases).toHaveLength(0); // the same observable, yet a different owner: it waits
    first.unsubscribe();
    const b = await within(second.acquired, 2_000, 'second acquisition');

    expect(a.token).toMatch(/^[0-9a-f]{32}$/);
    expect(b.token).toMatch(/^[0-9a-f]{32}$/);
    expect(b.token).not.toBe(a.token);
    expect(b.fence).toBeGreaterThan(a.fence);
  });

  it('emits exactly one Lease and stays open while held', async () => {
    const opts = lockOptions();
    const h = hold('one-lease', opts);
    const lease = await h.acquired;
    await sleep(300);

    expect(h.leases).toHaveLength(1);
    expect(h.ending()).toBeUndefined();
    expect(lease).toMatchObject({ name: 'one-lease', prefix: opts.prefix, mode: 'write', ttl: 0 });
    expect(Number.isSafeInteger(lease.fence) && lease.fence > 0).toBe(true);
    expect(lease.signal.aborted).toBe(false);
    expect(Object.isFrozen(lease)).toBe(true);
  });

  it('releases on unsubscribe: a waiter gets the lock, and the lease signal says it was released', async () => {
    const opts = lockOptions();
    const holder = hold('handover', opts);
    const lease = await holder.acquired;
    const waiter = hold('handover', opts);
    await sleep(50);
    expect(waiter.leases).toHaveLength(0);

    holder.unsubscribe();
    expect(lease.signal.aborted).toBe(true);
    expect(lease.signal.reason).toBeInstanceOf(LockError);
    expect(lease.signal.reason).not.toBeInstanceOf(LockLostError);
    await within(waiter.acquired, 2_000, 'the waiter');
    expect(holder.ending()).toBeUndefined(); // unsubscribed: no error, no complete
  });
});

describe('lock$: bad input', () => {
  const cases: [string, () => unknown, ErrorConstructor, RegExp?][] = [
    ['an empty name', () => lock$(''), RangeError, /empty/],
    ['a name too long', () => lock$('n'.repeat(1025)), RangeError, /1025/],
    ['a name that is not a string', () => lock$(42 as unknown as string), TypeError],
    ["ttl 'x'", () => lock$('n', { ttl: 'x' as unknown as number }), TypeError, /ttl/],
    ['lease 5', () => lock$('n', { lease: 5 }), RangeError, /lease/],
    ['timeout -2', () => lock$('n', { timeout: -2 }), RangeError, /timeout/],
    ['timeout 1.5', () => lock$('n', { timeout: 1.5 }), RangeError, /timeout/],
    ['timeout NaN', () => lock$('n', { timeout: Number.NaN }), RangeError, /timeout/],
    ['options that are not an object', () => lock$('n', 'fast' as unknown as LockOptions), TypeError],
    ["unknown option 'timout'", () => lock$('n', { timout: 100 } as LockOptions), TypeError, /did you mean 'timeout'/],
    ['a signal that is not an AbortSignal', () => lock$('n', { signal: {} as AbortSignal }), TypeError, /signal/],
    ['a redis URL of another scheme', () => lock$('n', { redis: 'http://127.0.0.1:1' }), TypeError, /redis/],
  ];

  it.each(cases)('throws synchronously for %s', (_label, call, type, message) => {
    let thrown: unknown;
    try {
      call();
    } catch (error) {
      thrown = error;
    }
    expect(thrown).toBeInstanceOf(type);
    if (message) expect((thrown as Error).message).toMatch(message);
  });

  it('sends nothing to Redis when the options are bad', () => {
    const client = lazyClient();
    expect(() => lock$('n', { redis: client, lease: 5 })).toThrow(RangeError);
    expect(() => lock$('n', { redis: client, timout: 5 } as LockOptions)).toThrow(TypeError);
    expect(client.status).toBe('wait');
    expect(diagnostics.connectionUsers).toBe(0);
  });
});

describe('lock$: timeouts and signals', () => {
  it('timeout 0 on a held lock errors with LockTimeoutError after one attempt, without waiting', async () => {
    const opts = lockOptions();
    await hold('busy', opts).acquired;
    const started = performance.now();
    const attempt = hold('busy', { ...opts, timeout: 0 });
    const ending = await within(attempt.ended, 2_000, 'the attempt');

    expect(ending.kind).toBe('error');
    const error = ending.kind === 'error' ? ending.error : undefined;
    expect(error).toBeInstanceOf(LockTimeoutError);
    expect(error).toMatchObject({ lock: 'busy', timeout: 0 });
    expect(ending.at - started).toBeLessThan(1_000);
    expect(diagnostics.channels).toBe(0); // it never subscribed to wait
    expect(diagnostics.waitQueues).toBe(0);
  });

  it('a timeout that passes errors with LockTimeoutError and leaves no waiter', async () => {
    const opts = lockOptions();
    const holder = hold('slow', opts);
    await holder.acquired;
    const started = performance.now();
    const waiter = hold('slow', { ...opts, timeout: 300 });
    const ending = await within(waiter.ended, 5_000, 'the timeout');

    expect(ending.kind === 'error' && ending.error).toBeInstanceOf(LockTimeoutError);
    expect(ending.kind === 'error' && ending.error).toMatchObject({ timeout: 300 });
    expect(ending.at - started).toBeGreaterThanOrEqual(250);
    expect(ending.at - started).toBeLessThan(2_000);
    expect(diagnostics.waitQueues).toBe(0);
    expect(holder.ending()).toBeUndefined();
  });

  it('an already aborted signal errors with its reason and sends nothing', async () => {
    const client = lazyClient();
    const reason = new Error('cancelled before');
    const h = hold('aborted', { redis: client, signal: AbortSignal.abort(reason) });
    const ending = await within(h.ended, 1_000, 'the error');

    expect(ending).toMatchObject({ kind: 'error', error: reason });
    expect(client.status).toBe('wait');
  });

  it('aborting while waiting errors with signal.reason and leaves no waiter', async () => {
    const opts = lockOptions();
    const holder = hold('abort-wait', opts);
    await holder.acquired;
    const controller = new AbortController();
    const waiter = hold('abort-wait', { ...opts, signal: controller.signal });
    await waitFor(() => diagnostics.waitQueues === 1, 2_000, 'the waiter queued');

    const reason = new Error('user gave up');
    controller.abort(reason);
    const ending = await within(waiter.ended, 1_000, 'the error');
    expect(ending).toMatchObject({ kind: 'error', error: reason });
    expect(diagnostics.waitQueues).toBe(0);
    expect(holder.ending()).toBeUndefined();
  });

  it('aborting while holding releases the lock and errors with signal.reason', async () => {
    const opts = lockOptions();
    const controller = new AbortController();
    const holder = hold('abort-hold', { ...opts, signal: controller.signal });
    const lease = await holder.acquired;

    const reason = new Error('shutting down');
    controller.abort(reason);
    const ending = await within(holder.ended, 1_000, 'the error');
    expect(ending).toMatchObject({ kind: 'error', error: reason });
    expect(lease.signal.aborted).toBe(true);
    await within(hold('abort-hold', { ...opts, timeout: 2_000 }).acquired, 3_000, 'the next holder');
  });
});

describe('lock$ in pipelines', () => {
  it('take(1) yields the lease and releases it at once', async () => {
    const opts = lockOptions();
    const lease = await firstValueFrom(lock$('take', opts).pipe(take(1)));
    expect(lease.token).toMatch(/^[0-9a-f]{32}$/);
    expect(lease.signal.aborted).toBe(true);
    await within(hold('take', { ...opts, timeout: 2_000 }).acquired, 3_000, 'the next holder');
  });

  it('switchMap from the lease to the work holds the lock during the work only', async () => {
    const opts = lockOptions();
    const client = redis.client();
    const work = async (fence: number): Promise<string> => {
      const rival = hold('job', { ...opts, timeout: 0 });
      const rivalEnding = await rival.ended;
      expect(rivalEnding.kind === 'error' && rivalEnding.error).toBeInstanceOf(LockTimeoutError);
      await client.set(`${opts.prefix}:result`, String(fence));
      return `done with fence ${fence}`;
    };

    const result = await firstValueFrom(
      lock$('job', opts).pipe(
        switchMap((lease) => from(work(lease.fence))),
        take(1),
      ),
    );
    expect(result).toMatch(/^done with fence \d+$/);
    await within(hold('job', { ...opts, timeout: 2_000 }).acquired, 3_000, 'the next holder');
  });

  it('mergeMap of five lock$ critical sections never overlaps them', async () => {
    const opts = lockOptions();
    const sections = await firstValueFrom(
      range(0, 5).pipe(
        mergeMap((i) =>
          lock$('merged', opts).pipe(
            switchMap(() => {
              const start = performance.now();
              return timer(20).pipe(map(() => ({ i, start, end: performance.now() })));
            }),
            take(1),
          ),
        ),
        toArray(),
      ),
    );
    expect(new Set(sections.map((s) => s.i)).size).toBe(5);
    const ordered = [...sections].sort((a, b) => a.start - b.start);
    for (let k = 1; k < ordered.length; k++) {
      expect(ordered[k]!.start).toBeGreaterThanOrEqual(ordered[k - 1]!.end);
    }
  });
});
