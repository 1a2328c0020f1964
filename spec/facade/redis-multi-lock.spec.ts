/**
 * RedisMultiLock: the conformance suite (spec/facade/conformance/) through an
 * adapter of two names, where `RedisLock` of the first name is the rival that
 * excludes it; then what is its own (several names, read mode, a lost name,
 * bad input).
 */
import { describe, expect, it } from 'vitest';
import { LockLostError, RedisLock, RedisMultiLock, RedisReadLock, type RedisLockOptions } from '../../src/index';
import { conformance, localSite, lockFactory } from './conformance';
import { useFacadeFixture } from './facade-fixture';

const fx = useFacadeFixture();

/** A multi-lock of `name` and `name + ':2'`, shaped as the suite expects of a lock of `name` (its `fence` is the first name's). */
class TwoNames extends RedisMultiLock {
  constructor(name: string, options?: RedisLockOptions) {
    super([name, `${name}:2`], options as object);
    Object.defineProperty(this, 'name', { value: name }); // the suite names the lock by its first name
  }
}

conformance(lockFactory(localSite(fx), { Lock: TwoNames, Other: RedisLock, sharing: 'exclusive', reentrant: false, variant: 'of two names' }));

describe('RedisMultiLock', () => {
  it('holds every name, each excluding its RedisLock, and a second instance over them in another order waits', async () => {
    const options = { redis: fx.redis.client(), prefix: fx.prefix() };
    const all = new RedisMultiLock(['x', 'y', 'z'], options);
    const reversed = new RedisMultiLock(['z', 'y', 'x'], options);
    expect(await all.acquire()).toBe(true);
    expect(Object.keys(all.fences ?? {}).sort()).toEqual(['x', 'y', 'z']);
    expect(await new RedisLock('y', options).acquire({ blocking: false })).toBe(false);
    expect(await reversed.acquire({ timeout: 100 })).toBe(false);
    const waiting = reversed.acquire({ timeout: 3_000 });
    await all.release();
    expect(await waiting).toBe(true);
    expect(await all.locked()).toBe(true);
    await reversed.release();
    expect(await all.locked()).toBe(false);
  });

  it("mode 'read' shares with readers, and withLock runs under every name", async () => {
    const options = { redis: fx.redis.client(), prefix: fx.prefix() };
    const reader = new RedisReadLock('r1', options);
    expect(await reader.acquire()).toBe(true);
    const all = new RedisMultiLock(['r1', 'r2'], { ...options, mode: 'read' });
    const seen = await all.withLock(async () => {
      expect(await new RedisLock('r2', options).acquire({ blocking: false })).toBe(false);
      return all.fences;
    });
    expect(Object.keys(seen ?? {}).sort()).toEqual(['r1', 'r2']);
    await reader.release();
  });

  it('withLock rejects with the LockLostError naming the name lost', async () => {
    const options = { redis: fx.redis.client(), prefix: fx.prefix(), lease: 1_500 };
    const all = new RedisMultiLock(['l1', 'l2'], options);
    const outcome = all.withLock(async (signal) => {
      await new RedisLock('l2', options).release({ force: true });
      await new Promise((resolve) => signal.addEventListener('abort', resolve));
      return 'done';
    });
    await expect(outcome).rejects.toMatchObject({ name: 'LockLostError', lock: 'l2', reason: 'gone' });
    await expect(outcome).rejects.toBeInstanceOf(LockLostError);
    expect(await all.locked()).toBe(false);
  });

  it('refuses bad names and options in the constructor', () => {
    expect(() => new RedisMultiLock([])).toThrow(RangeError);
    expect(() => new RedisMultiLock(['a', 'a'])).toThrow(RangeError);
    expect(() => new RedisMultiLock(['a'], { fair: true as false })).toThrow(RangeError);
    expect(() => new RedisMultiLock(['a'], { mdoe: 'read' } as object)).toThrow(/did you mean 'mode'/);
    expect(() => new RedisMultiLock(['a'], { mode: 'rw' as 'read' })).toThrow(TypeError);
  });
});
