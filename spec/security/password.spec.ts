/**
 * A password-protected server: the facade's { host, port, password } and a
 * redis://:pw@host:port/0 URL for lock$ both work, waiting and handing over
 * included (the subscriber connection authenticates too). A wrong or missing
 * password fails clearly and at once, and no password, right or wrong, ever
 * shows in an error: not in its message, its stack, its cause or anything a
 * logger prints of it (util.inspect, JSON).
 */
import { inspect } from 'node:util';
import { describe, expect, it } from 'vitest';
import { RedisLock, RedisUnavailableError, lock$ } from '../../src/index';
import { sleep, useFaultKit, within } from '../faults/fault-kit';

const kit = useFaultKit();
const PASSWORD = 'S3cret:pw@/%20 x';
const WRONG = 'Wr0ng-pw-4711';
const REDIS_TIMEOUT = 1_000;

/** Everything a logger could print of an error. */
function renderings(error: unknown): string[] {
  const e = error as Error;
  return [String(e), e.message, e.stack ?? '', inspect(e, { depth: 10, showHidden: true }), JSON.stringify(e) ?? ''];
}

function expectNoSecret(error: unknown, ...secrets: string[]): void {
  for (const text of renderings(error)) {
    for (const secret of secrets) {
      expect(text, 'an error rendering shows a password').not.toContain(secret);
      expect(text, 'an error rendering shows a password').not.toContain(encodeURIComponent(secret));
    }
  }
}

function expectAuthFailure(error: unknown): void {
  const clear = error instanceof RedisUnavailableError || /WRONGPASS|NOAUTH|auth/i.test(String(error));
  expect(clear, `not a clear authentication error: ${String(error)}`).toBe(true);
}

describe('a password-protected server', () => {
  it('the facade with { host, port, password } locks, waits, hands over and releases', async () => {
    const server = await kit.server({ password: PASSWORD });
    const options = { host: server.host, port: server.port, password: PASSWORD, prefix: 'pw', redisTimeout: REDIS_TIMEOUT };
    const first = new RedisLock('x', options);
    const second = new RedisLock('x', options);
    expect(await first.acquire({ timeout: 3_000 })).toBe(true);
    expect(await second.locked()).toBe(true);
    const waiting = second.acquire({ timeout: 3_000 });
    await sleep(100);
    const releasedAt = performance.now();
    await first.release();
    expect(await waiting).toBe(true);
    expect(performance.now() - releasedAt).toBeLessThan(1_000);
    await second.release();
    expect(await first.locked()).toBe(false);
  });

  it('lock$ with a redis://:pw@host:port/0 URL locks, waits and hands over', async () => {
    const server = await kit.server({ password: PASSWORD });
    expect(server.url).toContain(encodeURIComponent(PASSWORD));
    const holder = kit.hold(lock$('y', { redis: server.url, prefix: 'pw', redisTimeout: REDIS_TIMEOUT }));
    await within(holder.acquired, 3_000, 'the holder');
    const waiter = kit.hold(lock$('y', { redis: server.url, prefix: 'pw', mode: 'read', redisTimeout: REDIS_TIMEOUT }));
    await sleep(100);
    holder.unsubscribe();
    await within(waiter.acquired, 1_000, 'the waiter');
    waiter.unsubscribe();
  });

  it('a wrong password: the facade and lock$ fail clearly within redisTimeout, showing neither password', async () => {
    const server = await kit.server({ password: PASSWORD });
    const lock = new RedisLock('x', { host: server.host, port: server.port, password: WRONG, redisTimeout: REDIS_TIMEOUT });
    let started = performance.now();
    const facadeError = await lock.acquire().then(() => new Error('acquired'), (e: unknown) => e);
    const facadeTook = performance.now() - started;
    started = performance.now();
    const holding = kit.hold(lock$('x', { redis: `redis://:${WRONG}@${server.host}:${server.port}/0`, redisTimeout: REDIS_TIMEOUT }));
    const ending = await within(holding.ended, REDIS_TIMEOUT + 2_000, 'the lock$ error');
    const lockError = (ending as { error?: unknown }).error;
    const lockTook = performance.now() - started;
    const lockedError = await lock.locked().then(() => new Error('answered'), (e: unknown) => e);
    console.log(`[wrong password] facade ${facadeTook.toFixed(0)} ms: ${String(facadeError)}; lock$ ${lockTook.toFixed(0)} ms: ${String(lockError)}`);
    for (const error of [facadeError, lockError, lockedError]) {
      expectAuthFailure(error);
      expectNoSecret(error, WRONG, PASSWORD);
    }
    expect(facadeTook).toBeLessThan(REDIS_TIMEOUT + 1_000);
    expect(lockTook).toBeLessThan(REDIS_TIMEOUT + 1_000);
  });

  it('no password at all: a clear error (NOAUTH or RedisUnavailableError) within redisTimeout', async () => {
    const server = await kit.server({ password: PASSWORD });
    const lock = new RedisLock('x', { host: server.host, port: server.port, redisTimeout: REDIS_TIMEOUT });
    const started = performance.now();
    const error = await lock.acquire().then(() => new Error('acquired'), (e: unknown) => e);
    expectAuthFailure(error);
    expectNoSecret(error, PASSWORD);
    expect(performance.now() - started).toBeLessThan(REDIS_TIMEOUT + 1_000);
  });

  it('the right password and the server gone: RedisUnavailableError that names host:port/db, not the password', async () => {
    const server = await kit.server({ password: PASSWORD });
    const lock = new RedisLock('x', { host: server.host, port: server.port, password: PASSWORD, redisTimeout: 500 });
    expect(await lock.acquire()).toBe(true);
    await lock.release();
    await server.stop();
    const error = await lock.acquire().then(() => new Error('acquired'), (e: unknown) => e);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect((error as RedisUnavailableError).server).toBe(`${server.host}:${server.port}/0`);
    expectNoSecret(error, PASSWORD);
  });
});
