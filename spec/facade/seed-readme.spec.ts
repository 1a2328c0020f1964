/**
 * Every example of PyYADL's README (../shared/seed/000_603181d07fbb01e3.txt),
 * one test each, in yadl's terms: promises instead of blocking calls,
 * milliseconds instead of seconds, `withLock` for `with lock:`. The Read and
 * Write lock examples belong to the read/write issue.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { LockError, NotOwnerError, RedisLock } from '../../src/index';
import { sleep, useFacadeFixture } from './facade-fixture';

const fx = useFacadeFixture();

/** PyYADL's `RedisLock('test_lock')`, against the test server (a URL, as PyYADL's host/port default). */
const testLock = (): RedisLock => fx.lock(RedisLock, { redis: fx.redis.url }, 'test_lock');

describe('PyYADL README examples', () => {
  it('create lock object: name, prefix, ttl, host, port, password, db', async () => {
    // RedisLock(name='test_lock', prefix='my_app', ttl=60, redis_host=..., redis_port=..., redis_password='secret', redis_db=0)
    const server = await fx.privateServer({ password: 'secret' });
    const lock = fx.lock(
      RedisLock,
      { prefix: 'my_app', ttl: 60_000, host: server.host, port: server.port, password: 'secret', db: 0 },
      'test_lock',
    );
    const admin = new Redis({ host: server.host, port: server.port, password: 'secret', db: 0 });
    try {
      expect(await lock.acquire()).toBe(true);
      const key = 'my_app:lock:{test_lock}';
      expect(await admin.exists(key)).toBe(1);
      const pttl = await admin.pttl(key);
      expect(pttl).toBeGreaterThan(55_000);
      expect(pttl).toBeLessThanOrEqual(60_000);
      await lock.release();
      expect(await admin.exists(key)).toBe(0);
    } finally {
      await admin.quit();
    }
  });

  it('basic usage: acquire, then release', async () => {
    const lock = testLock();
    expect(await lock.acquire()).toBe(true);
    expect(await lock.locked()).toBe(true);
    await lock.release();
    expect(await lock.locked()).toBe(false);
  });

  it('context manager (`with lock:`) is withLock', async () => {
    const lock = testLock();
    const heldInside = await lock.withLock(() => lock.locked());
    expect(heldInside).toBe(true);
    expect(await lock.locked()).toBe(false);
  });

  it('lock2.release() while lock1 holds rejects NotOwnerError (the RuntimeError)', async () => {
    const lock1 = testLock();
    const lock2 = testLock();
    await lock1.acquire();
    const error = await lock2.release().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotOwnerError);
    expect(error).toBeInstanceOf(LockError);
    expect((error as Error).message).toContain('cannot release un-acquired lock');
    expect(await lock1.locked()).toBe(true);
    await lock1.release();
  });

  it('lock2.release({ force: true }) releases the lock lock1 holds', async () => {
    const lock1 = testLock();
    const lock2 = testLock();
    await lock1.acquire();
    await lock2.release({ force: true });
    expect(await lock2.locked()).toBe(false);
    const lock3 = testLock();
    expect(await lock3.acquire({ blocking: false })).toBe(true);
    await lock3.release();
    // lock1 learns it no longer holds when it tries to release.
    await expect(lock1.release()).rejects.toThrow(NotOwnerError);
  });

  it('acquire({ blocking: false }) resolves true when free, false without waiting when held', async () => {
    const lock = testLock();
    const other = testLock();
    expect(await lock.acquire({ blocking: false })).toBe(true);
    const started = performance.now();
    expect(await other.acquire({ blocking: false })).toBe(false);
    expect(performance.now() - started).toBeLessThan(500);
    await lock.release();
  });

  it('acquire({ timeout }) resolves true on success within the timeout, false once it passes', async () => {
    // PyYADL: lock.acquire(timeout=12), in seconds.
    const lock1 = testLock();
    const lock2 = testLock();
    await lock1.acquire();
    const started = performance.now();
    const waiting = lock2.acquire({ timeout: 12_000 });
    await sleep(100);
    await lock1.release();
    expect(await waiting).toBe(true);
    expect(performance.now() - started).toBeLessThan(2_000);

    const lock3 = testLock();
    const failedFrom = performance.now();
    expect(await lock3.acquire({ timeout: 200 })).toBe(false);
    expect(performance.now() - failedFrom).toBeGreaterThanOrEqual(195);
    await lock2.release();
  });
});
