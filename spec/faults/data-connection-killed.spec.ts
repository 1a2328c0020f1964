/**
 * The data connection is killed (CLIENT KILL TYPE normal SKIPME yes, from an
 * admin client) while an acquire is in flight. `CLIENT PAUSE ... WRITE`
 * holds the acquire script on the server, so the kill surely lands while it
 * is unanswered. No lock leaks: the waiter gets the lock or a clear error,
 * and in the end the lock's state key is gone.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { LockTimeoutError, RedisUnavailableError, lock$ } from '../../src/index';
import { eventually, sleep, stateKey, useFaultKit, within } from './fault-kit';

const kit = useFaultKit();

async function killNormalClients(admin: Redis): Promise<number> {
  return Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'normal', 'SKIPME', 'yes'));
}

/** Pauses writes (scripts included) so that the next acquire stays in flight; the admin can still kill. */
async function pauseWrites(admin: Redis, ms: number): Promise<void> {
  await admin.call('CLIENT', 'PAUSE', String(ms), 'WRITE');
}

async function warmUp(url: string): Promise<void> {
  const warm = kit.hold(lock$('warm-up', { redis: url, prefix: 'd' }));
  await within(warm.acquired, 5_000, 'the warm-up lock');
  warm.unsubscribe();
}

describe('the data connection is killed while an acquire is in flight', () => {
  it('a free lock: the acquire is resent after the reconnect and the waiter gets the lock; nothing leaks', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    await warmUp(server.url);
    await pauseWrites(admin, 1_000);
    const startedAt = performance.now();
    const waiter = kit.hold(lock$('free', { redis: server.url, prefix: 'd' }));
    await sleep(150);
    expect(waiter.leases).toHaveLength(0);
    expect(await killNormalClients(admin)).toBeGreaterThanOrEqual(1);
    const lease = await within(waiter.acquired, 5_000, 'the waiter');
    console.log(`[data killed, free lock] acquired ${(performance.now() - startedAt).toFixed(0)} ms after the attempt (1 s pause)`);
    expect(lease.token).toMatch(/^[0-9a-f]{32}$/);
    expect(await admin.hget(stateKey('d', 'free'), 'w')).toBe(lease.token);
    waiter.unsubscribe();
    await eventually(async () => (await admin.exists(stateKey('d', 'free'))) === 0, 3_000, 'the state key gone');
  });

  it('a held lock: the waiter whose attempt was cut off still acquires once the holder releases', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const holderClient = kit.client(server.url);
    const holder = kit.hold(lock$('held', { redis: holderClient, prefix: 'd', lease: 30_000 }));
    await within(holder.acquired, 5_000, 'the holder');
    await warmUp(server.url);
    await pauseWrites(admin, 800);
    const waiter = kit.hold(lock$('held', { redis: server.url, prefix: 'd' }));
    await sleep(150);
    await killNormalClients(admin); // the holder's connection too: its hold is in Redis, not in the socket
    await sleep(1_000); // the pause is over, the resent attempt found the lock held
    expect(waiter.leases).toHaveLength(0);
    expect(holder.ending()).toBeUndefined();
    const releasedAt = performance.now();
    holder.unsubscribe();
    await within(waiter.acquired, 2_000, 'the waiter');
    console.log(`[data killed, held lock] the waiter acquired ${(performance.now() - releasedAt).toFixed(0)} ms after the release`);
    expect(performance.now() - releasedAt).toBeLessThan(1_000);
    waiter.unsubscribe();
    await eventually(async () => (await admin.exists(stateKey('d', 'held'))) === 0, 3_000, 'the state key gone');
  });

  it('a waiter that gives up while its attempt is unanswered gets a clear error, and the late acquire is given back', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    await warmUp(server.url);
    await pauseWrites(admin, 1_200);
    const pauseEnds = performance.now() + 1_200;
    const startedAt = performance.now();
    const waiter = kit.hold(lock$('given-up', { redis: server.url, prefix: 'd', timeout: 300 }));
    await sleep(100);
    await killNormalClients(admin);
    const ending = await within(waiter.ended, 3_000, 'the waiter giving up');
    const waited = ending.at - startedAt;
    expect(ending.kind).toBe('error');
    const error = (ending as { error: unknown }).error;
    console.log(`[data killed, gave up after ${waited.toFixed(0)} ms] ${(error as Error).name}: ${(error as Error).message}`);
    expect(error instanceof LockTimeoutError || error instanceof RedisUnavailableError).toBe(true);
    // A clear error does not claim that more time passed than did.
    const claimed = Number(/within (\d+) ms/.exec((error as Error).message)?.[1] ?? 0);
    expect.soft(claimed, `'${(error as Error).message}' after ${waited.toFixed(0)} ms`).toBeLessThanOrEqual(waited + 50);
    expect(waiter.leases).toHaveLength(0);
    // After the pause the resent acquire runs and takes the lock (its fence counter shows it); yadl releases it by its token.
    await sleep(pauseEnds + 200 - performance.now());
    await eventually(async () => (await admin.exists(`${stateKey('d', 'given-up')}:fence`)) === 1, 3_000, 'the late acquire');
    await eventually(async () => (await admin.exists(stateKey('d', 'given-up'))) === 0, 4_000, 'no leaked hold');
    const next = kit.hold(lock$('given-up', { redis: server.url, prefix: 'd', timeout: 0 }));
    await within(next.acquired, 2_000, 'a fresh single attempt');
    next.unsubscribe();
  });

  it('connections killed again and again under contention: holds never overlap, errors are clear, nothing leaks', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const intervals: [number, number][] = [];
    const errors: unknown[] = [];
    let stop = false;
    const worker = async (): Promise<void> => {
      while (!stop) {
        const holding = subscribeOnce(server.url);
        try {
          await within(holding.acquired, 10_000, 'an acquisition');
          const start = performance.now();
          await sleep(Math.random() * 5);
          intervals.push([start, performance.now()]);
        } catch (error) {
          errors.push(error);
        } finally {
          holding.unsubscribe();
        }
      }
    };
    const subscribeOnce = (url: string): ReturnType<typeof kit.hold> =>
      kit.hold(lock$('churn', { redis: url, prefix: 'd', timeout: 2_000, redisTimeout: 2_000 }));
    const workers = Array.from({ length: 6 }, () => worker());
    let kills = 0;
    const until = performance.now() + 3_000;
    while (performance.now() < until) {
      await sleep(50 + Math.random() * 150);
      await killNormalClients(admin);
      kills += 1;
    }
    stop = true;
    await within(Promise.all(workers), 15_000, 'the workers');
    console.log(`[data killed ${kills} times] ${intervals.length} holds, ${errors.length} errors: ${summarize(errors)}`);
    expect(intervals.length).toBeGreaterThan(10);
    for (const error of errors) expect(error instanceof LockTimeoutError || error instanceof RedisUnavailableError).toBe(true);
    intervals.sort((a, b) => a[0] - b[0]);
    for (let i = 1; i < intervals.length; i++) expect(intervals[i]![0]).toBeGreaterThanOrEqual(intervals[i - 1]![1]);
    await eventually(async () => (await admin.exists(stateKey('d', 'churn'))) === 0, 4_000, 'no leaked hold');
  });
});

function summarize(errors: unknown[]): string {
  const counts = new Map<string, number>();
  for (const e of errors) counts.set((e as Error).name, (counts.get((e as Error).name) ?? 0) + 1);
  return [...counts].map(([k, v]) => `${v} ${k}`).join(', ') || 'none';
}
