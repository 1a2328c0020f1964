/**
 * CPython's Lib/test/lock_tests.py BaseSemaphoreTests, SemaphoreTests and
 * BoundedSemaphoreTests, adapted to RedisSemaphore: seconds become ms,
 * threads become async tasks sharing one instance (the instance is the
 * Python semaphore object: any task may release its permits), `_wait()`
 * becomes a short sleep, and the initial value is the `limit`.
 *
 * Differences, by design: a limit must be at least 1 (Python allows 0); a
 * distributed semaphore is always bounded, so SemaphoreTests'
 * test_release_unacquired (an unbounded release raises the value) becomes
 * BoundedSemaphoreTests' (NotOwnerError for Python's ValueError); the
 * default value of 1 is an explicit `limit: 1`; test_acquire_destroy (del
 * the object while held) becomes `await using`, the way to let go of an
 * instance here. Each case uses its own name, since the stored limit wins.
 */
import { describe, expect, it } from 'vitest';
import { NotOwnerError, RedisSemaphore } from '../../src/index';
import { waitFor } from '../core/holding';
import { TrackedSemaphore } from '../support/tracked-semaphore';
import { sleep, useFacadeFixture } from './facade-fixture';

const fx = useFacadeFixture();

function semtype(limit: number, name: string): RedisSemaphore {
  return fx.lock(TrackedSemaphore, { limit } as never, name);
}

/** lock_tests' Bunch: `n` tasks running `f`; resolves once all are done. */
function bunch(f: () => Promise<void>, n: number): { done: Promise<void>; finished: () => boolean } {
  let finished = 0;
  const done = Promise.all(
    Array.from({ length: n }, async () => {
      await f();
      finished += 1;
    }),
  ).then(() => undefined);
  return { done, finished: () => finished === n };
}

describe('CPython lock_tests BaseSemaphoreTests (RedisSemaphore)', () => {
  it('test_constructor: a negative value is refused', () => {
    expect(() => semtype(-1, 'ctor')).toThrow(RangeError);
    expect(() => semtype(-Number.MAX_SAFE_INTEGER, 'ctor')).toThrow(RangeError);
  });

  it('test_acquire', async () => {
    let sem = semtype(1, 'acquire-1');
    await sem.acquire();
    await sem.release();
    sem = semtype(2, 'acquire-2');
    await sem.acquire();
    await sem.acquire();
    await sem.release();
    await sem.release();
    expect(await sem.available()).toBe(2);
  });

  it('test_acquire_destroy: letting go of a holding instance (await using) gives its permit back', async () => {
    {
      await using sem = new RedisSemaphore('destroy', { redis: fx.redis.client(), prefix: fx.prefix(), limit: 1 });
      await sem.acquire();
    }
    const next = semtype(1, 'destroy');
    expect(await next.acquire({ blocking: false })).toBe(true);
    await next.release();
  });

  it('test_acquire_contended', async () => {
    const sem = semtype(7, 'contended');
    await sem.acquire();
    const semResults: boolean[] = [];
    const results1: number[] = [];
    const results2: number[] = [];
    let phase = 0;
    const b = bunch(async () => {
      semResults.push(await sem.acquire());
      results1.push(phase);
      semResults.push(await sem.acquire());
      results2.push(phase);
    }, 10);
    await waitFor(() => results1.length + results2.length >= 6, 5_000, '6 acquisitions');
    await sleep(50);
    expect([...results1, ...results2]).toEqual(Array(6).fill(0));
    phase = 1;
    for (let i = 0; i < 7; i++) await sem.release();
    await waitFor(() => results1.length + results2.length >= 13, 5_000, '13 acquisitions');
    await sleep(50);
    expect([...results1, ...results2].sort()).toEqual([...Array(6).fill(0), ...Array(7).fill(1)]);
    phase = 2;
    for (let i = 0; i < 6; i++) await sem.release();
    await waitFor(() => results1.length + results2.length >= 19, 5_000, '19 acquisitions');
    await sleep(50);
    expect([...results1, ...results2].sort()).toEqual([...Array(6).fill(0), ...Array(7).fill(1), ...Array(6).fill(2)]);
    // The semaphore is still locked.
    expect(await sem.acquire({ blocking: false })).toBe(false);
    // Final release, to let the last task finish.
    await sem.release();
    await b.done;
    expect(semResults).toEqual(Array(6 + 7 + 6 + 1).fill(true));
    await sem.release({ permits: sem.held });
  });

  it('test_try_acquire', async () => {
    const sem = semtype(2, 'try');
    expect(await sem.acquire({ blocking: false })).toBe(true);
    expect(await sem.acquire({ blocking: false })).toBe(true);
    expect(await sem.acquire({ blocking: false })).toBe(false);
    await sem.release();
    expect(await sem.acquire({ blocking: false })).toBe(true);
    await sem.release({ permits: 2 });
  });

  it('test_try_acquire_contended', async () => {
    const sem = semtype(4, 'try-contended');
    await sem.acquire();
    const results: boolean[] = [];
    await bunch(async () => {
      results.push(await sem.acquire({ blocking: false }));
      results.push(await sem.acquire({ blocking: false }));
    }, 5).done;
    expect(results.sort()).toEqual([...Array(7).fill(false), ...Array(3).fill(true)]);
    await sem.release({ permits: 4 });
  });

  it('test_acquire_timeout', async () => {
    const sem = semtype(2, 'timeout');
    await expect(sem.acquire({ blocking: false, timeout: 1_000 })).rejects.toThrow(RangeError);
    // CPython's 5 ms is a thread's wait; here it also bounds a round trip to Redis, which a loaded machine can stretch.
    const short = 100;
    expect(await sem.acquire({ timeout: short })).toBe(true);
    expect(await sem.acquire({ timeout: short })).toBe(true);
    expect(await sem.acquire({ timeout: short })).toBe(false);
    await sem.release();
    expect(await sem.acquire({ timeout: short })).toBe(true);
    const started = performance.now();
    expect(await sem.acquire({ timeout: 500 })).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(495);
    await sem.release({ permits: 2 });
  });

  it('test_default_value (limit 1)', async () => {
    const sem = semtype(1, 'default');
    await sem.acquire();
    const b = bunch(async () => {
      await sem.acquire();
      await sem.release();
    }, 1);
    await sleep(100);
    expect(b.finished()).toBe(false);
    await sem.release();
    await b.done;
  });

  it('test_with (withLock)', async () => {
    const sem = semtype(2, 'with');
    const withSem = (err?: Error): Promise<void> =>
      sem.withLock(async () => {
        expect(await sem.acquire({ blocking: false })).toBe(true);
        await sem.release();
        await sem.withLock(async () => {
          expect(await sem.acquire({ blocking: false })).toBe(false);
          if (err !== undefined) throw err;
        });
      });
    await withSem();
    expect(await sem.acquire({ blocking: false })).toBe(true);
    await sem.release();
    const failure = new TypeError('raised inside');
    await expect(withSem(failure)).rejects.toBe(failure);
    expect(await sem.acquire({ blocking: false })).toBe(true);
    await sem.release();
  });
});

describe('CPython lock_tests BoundedSemaphoreTests (RedisSemaphore)', () => {
  it('test_release_unacquired: cannot go past the initial value (NotOwnerError for ValueError)', async () => {
    const sem = semtype(1, 'bounded');
    await expect(sem.release()).rejects.toThrow(NotOwnerError);
    await sem.acquire();
    await sem.release();
    await expect(sem.release()).rejects.toThrow(NotOwnerError);
    expect(await sem.available()).toBe(1);
  });
});
