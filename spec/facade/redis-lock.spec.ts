/**
 * RedisLock: the conformance suite, plus what only a non-reentrant lock does
 * (CPython lock_tests.LockTests: a second acquire by the holder waits).
 */
import { describe, expect, it } from 'vitest';
import { RedisLock, RedisRLock } from '../../src/index';
import { settledWithin, useFacadeFixture } from './facade-fixture';
import { lockConformance } from './lock-conformance';

const fx = useFacadeFixture();

lockConformance(fx, { Lock: RedisLock, Other: RedisRLock });

describe('RedisLock is not reentrant', () => {
  it('a second acquire({ blocking: false }) by the holding instance resolves false', async () => {
    const lock = fx.lock(RedisLock);
    expect(await lock.acquire()).toBe(true);
    const fence = lock.fence;
    expect(await lock.acquire({ blocking: false })).toBe(false);
    expect(lock.fence).toBe(fence);
    await lock.release();
    expect(await lock.locked()).toBe(false);
    await expect(lock.release()).rejects.toThrow(/release unlocked lock/);
  });

  it('a second acquire({ timeout: 100 }) by the holding instance resolves false after the timeout', async () => {
    const lock = fx.lock(RedisLock);
    await lock.acquire();
    const started = performance.now();
    expect(await lock.acquire({ timeout: 100 })).toBe(false);
    expect(performance.now() - started).toBeGreaterThanOrEqual(95);
    expect(await lock.locked()).toBe(true);
    expect(lock.signal?.aborted).toBe(false);
    await lock.release();
    expect(await lock.locked()).toBe(false);
  });

  it('a second blocking acquire by the holder waits until the lock is released, then holds anew', async () => {
    const lock = fx.lock(RedisLock);
    await lock.acquire();
    const first = lock.fence as number;
    const second = lock.acquire();
    expect(await settledWithin(second, 150)).toBe(false);
    await lock.release();
    expect(await second).toBe(true);
    expect(lock.fence).toBeGreaterThan(first);
    await lock.release();
    expect(await lock.locked()).toBe(false);
  });
});
