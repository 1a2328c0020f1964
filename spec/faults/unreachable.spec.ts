/**
 * Redis is unreachable: nothing listens on the port (connection refused), or
 * the server is stopped while a lock is awaited. Every operation fails with
 * RedisUnavailableError within `redisTimeout` (500 ms here) plus slack,
 * instead of hanging, and the process stays healthy: no unhandled errors, and
 * locks on a live server keep working.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockError, RedisLock, RedisReadLock, RedisUnavailableError, lock$ } from '../../src/index';
import { getFreePort } from '../support/redis-server';
import { sharedNow, sleep, useFaultKit, within } from './fault-kit';

const kit = useFaultKit();
const REDIS_TIMEOUT = 500;
const SLACK = 1_500;

const unhandled: unknown[] = [];
const record = (error: unknown): void => void unhandled.push(error);
beforeAll(() => {
  process.on('unhandledRejection', record);
  process.on('uncaughtException', record);
});
afterAll(() => {
  process.off('unhandledRejection', record);
  process.off('uncaughtException', record);
  expect(unhandled).toEqual([]);
});

async function refusedUrl(): Promise<{ url: string; server: string }> {
  const port = await getFreePort();
  return { url: `redis://127.0.0.1:${port}/0`, server: `127.0.0.1:${port}/0` };
}

/** Runs `operation`, which must reject with RedisUnavailableError within redisTimeout + slack. */
async function expectUnavailable(operation: () => Promise<unknown>, server: string): Promise<number> {
  const started = performance.now();
  const error = await operation().then(
    () => new Error('it did not fail'),
    (e: unknown) => e,
  );
  const took = performance.now() - started;
  expect(error).toBeInstanceOf(RedisUnavailableError);
  expect(error).toBeInstanceOf(LockError);
  const unavailable = error as RedisUnavailableError;
  expect(unavailable.server).toBe(server);
  expect(unavailable.redisTimeout).toBe(REDIS_TIMEOUT);
  expect(unavailable.message).toMatch(new RegExp(`^Redis at ${server} did not answer within ${REDIS_TIMEOUT} ms: .*ECONNREFUSED`));
  expect(took).toBeGreaterThanOrEqual(REDIS_TIMEOUT - 5);
  expect(took).toBeLessThan(REDIS_TIMEOUT + SLACK);
  return took;
}

describe('nothing listens at the URL', () => {
  it('the facade: acquire (blocking or not, any mode), release and locked() reject with RedisUnavailableError', async () => {
    const { url, server } = await refusedUrl();
    const lock = new RedisLock('nowhere', { redis: url, redisTimeout: REDIS_TIMEOUT });
    const reader = new RedisReadLock('nowhere', { redis: url, redisTimeout: REDIS_TIMEOUT });
    const took = [
      await expectUnavailable(() => lock.acquire(), server),
      await expectUnavailable(() => lock.acquire({ blocking: false }), server),
      await expectUnavailable(() => lock.acquire({ timeout: 5_000 }), server),
      await expectUnavailable(() => reader.acquire(), server),
      await expectUnavailable(() => lock.release(), server),
      await expectUnavailable(() => lock.release({ force: true }), server),
      await expectUnavailable(() => lock.locked(), server),
      await expectUnavailable(() => lock.withLock(() => 'never'), server),
    ];
    console.log(`[unreachable] facade operations failed after ${took.map((t) => t.toFixed(0)).join(', ')} ms`);
    expect(lock.fence).toBeUndefined();
  });

  it('a timeout shorter than redisTimeout still ends in RedisUnavailableError, not a lock timeout', async () => {
    const { url } = await refusedUrl();
    const lock = new RedisLock('nowhere', { redis: url, redisTimeout: REDIS_TIMEOUT });
    const error = await lock.acquire({ timeout: 200 }).then(
      (ok) => new Error(`resolved ${String(ok)}`),
      (e: unknown) => e,
    );
    expect(error).toBeInstanceOf(RedisUnavailableError);
  });

  it('lock$ (exclusive and read) errors the same way, many at once, each within redisTimeout', async () => {
    const { url, server } = await refusedUrl();
    const started = performance.now();
    const holdings = (['exclusive', 'write', 'read'] as const).flatMap((mode) =>
      [1, 2, 3].map(() => kit.hold(lock$(`nowhere-${mode}`, { redis: url, redisTimeout: REDIS_TIMEOUT, mode }))),
    );
    const endings = await within(Promise.all(holdings.map((h) => h.ended)), REDIS_TIMEOUT + SLACK + 1_000, 'the lock$ errors');
    for (const ending of endings) {
      expect(ending.kind).toBe('error');
      const error = (ending as { error: unknown }).error as RedisUnavailableError;
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect(error.server).toBe(server);
      expect(ending.at - started).toBeLessThan(REDIS_TIMEOUT + SLACK);
    }
    expect(holdings.every((h) => h.leases.length === 0)).toBe(true);
  });
});

describe('Redis is reachable and answers promptly', () => {
  it('a short timeout on a held lock is a LockTimeoutError (or false), never RedisUnavailableError', async () => {
    const server = await kit.server();
    const client = kit.client(server.url);
    const holder = kit.hold(lock$('busy', { redis: client }));
    await within(holder.acquired, 5_000, 'the holder');
    const seen: Record<string, number> = {};
    for (let round = 0; round < 10; round++) {
      for (const timeout of [1, 2, 5, 10]) {
        const waiter = kit.hold(lock$('busy', { redis: client, timeout }));
        const ending = await within(waiter.ended, 5_000, 'the waiter');
        const name = ((ending as { error?: Error }).error ?? new Error('none')).name;
        seen[`timeout ${timeout}: ${name}`] = (seen[`timeout ${timeout}: ${name}`] ?? 0) + 1;
      }
    }
    const facade = new RedisLock('busy', { redis: client });
    const answers = await Promise.all([1, 1, 2, 2, 5].map((timeout) => facade.acquire({ timeout }).catch((e: unknown) => (e as Error).name)));
    console.log(`[healthy Redis, short timeouts] lock$: ${JSON.stringify(seen)}; facade: ${JSON.stringify(answers)}`);
    expect(Object.keys(seen).filter((k) => !k.endsWith('LockTimeoutError'))).toEqual([]);
    expect(answers).toEqual([false, false, false, false, false]);
  });
});

describe('after RedisUnavailableError', () => {
  it('a process that handled it exits by itself soon after (yadl let go of its connection and timers)', async () => {
    const { url } = await refusedUrl();
    const child = kit.worker('unreachable.ts', { REDIS_URL: url, REDIS_TIMEOUT: String(REDIS_TIMEOUT) });
    const report = await child.message((m) => Array.isArray(m.failed), 20_000);
    expect(report.failed).toEqual(['RedisUnavailableError', 'RedisUnavailableError']);
    const exited = await Promise.race([child.exited.then(() => sharedNow()), sleep(8_000).then(() => undefined)]);
    const after = exited === undefined ? undefined : exited - (report.at as number);
    console.log(`[unreachable] the child exited ${after === undefined ? 'not within 8 s' : `${after.toFixed(0)} ms`} after its last error`);
    expect(after ?? Number.POSITIVE_INFINITY, 'ms from its last RedisUnavailableError until the child exited by itself').toBeLessThan(3_000);
  });
});

describe('the server goes away', () => {
  it('a waiter whose server is stopped is told within redisTimeout (+ slack), not at the holder deadline', async () => {
    const server = await kit.server();
    const holder = kit.hold(lock$('stopped', { redis: kit.client(server.url), lease: 20_000, redisTimeout: REDIS_TIMEOUT }));
    await within(holder.acquired, 5_000, 'the holder');
    const waiter = kit.hold(lock$('stopped', { redis: server.url, redisTimeout: REDIS_TIMEOUT }));
    await sleep(300);
    expect(waiter.leases).toHaveLength(0);
    const stoppedAt = performance.now();
    await server.stop();
    const ending = await within(waiter.ended, REDIS_TIMEOUT + SLACK + 2_000, 'the waiter being told that Redis is gone');
    console.log(`[server stopped] the waiter was told after ${(ending.at - stoppedAt).toFixed(0)} ms`);
    expect((ending as { error?: unknown }).error).toBeInstanceOf(RedisUnavailableError);
  });

  it('a holder whose server is stopped is told (unconfirmed) within its lease, and its release fails clearly', async () => {
    const server = await kit.server();
    const lock = new RedisLock('stopped-holder', { redis: server.url, lease: 900, redisTimeout: REDIS_TIMEOUT });
    expect(await lock.acquire({ timeout: 5_000 })).toBe(true);
    const signal = lock.signal as AbortSignal;
    const stoppedAt = performance.now();
    await server.stop();
    await within(
      new Promise((resolve) => signal.addEventListener('abort', resolve, { once: true })),
      900 + SLACK,
      'the holder being told',
    );
    console.log(`[server stopped] the holder was told after ${(performance.now() - stoppedAt).toFixed(0)} ms: ${String(signal.reason)}`);
    expect((signal.reason as { reason?: string }).reason).toBe('unconfirmed');
    expect(lock.fence).toBeUndefined();
    await expectUnavailable(() => lock.release(), `127.0.0.1:${server.port}/0`);
  });

  it('the process stays healthy: after all that, a lock on a live server works', async () => {
    const server = await kit.server();
    const holding = kit.hold(lock$('alive', { redis: server.url, redisTimeout: REDIS_TIMEOUT }));
    const lease = await within(holding.acquired, 5_000, 'a lock on a live server');
    expect(lease.token).toMatch(/^[0-9a-f]{32}$/);
    holding.unsubscribe();
  });
});
