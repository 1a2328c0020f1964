/**
 * Keyspace notifications are turned off at runtime (CONFIG SET
 * notify-keyspace-events '') after locks worked with them: events never
 * arrive, so waiters fall back to the holder's deadline and still acquire
 * within it plus a small slack (< 1 s). A subscriber reconnect turns them on
 * again.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { lock$ } from '../../src/index';
import { channelOf, eventually, sharedNow, sleep, stateKey, subscribers, useFaultKit, within } from './fault-kit';

const kit = useFaultKit();
const SLACK = 1_000;

async function flags(admin: Redis): Promise<string> {
  const reply = (await admin.config('GET', 'notify-keyspace-events')) as string[];
  return reply[1] ?? '';
}

/** A handoff with notifications on, so that yadl has seen (and enabled) them before they are turned off. */
async function locksWork(url: string, admin: Redis, name: string): Promise<void> {
  const first = kit.hold(lock$(name, { redis: url, prefix: 'n' }));
  await within(first.acquired, 5_000, 'the first holder');
  const second = kit.hold(lock$(name, { redis: url, prefix: 'n' }));
  await eventually(async () => (await subscribers(admin, channelOf('n', name))) === 1, 5_000, 'the waiter subscribed');
  expect(await flags(admin)).toMatch(/^(?=.*K)(?=.*x)/);
  const releasedAt = performance.now();
  first.unsubscribe();
  await within(second.acquired, 2_000, 'the handoff with notifications on');
  expect(performance.now() - releasedAt).toBeLessThan(SLACK);
  second.unsubscribe();
}

async function turnOffWhileWaiting(admin: Redis, name: string): Promise<void> {
  await eventually(async () => (await subscribers(admin, channelOf('n', name))) === 1, 5_000, 'the waiter subscribed');
  await admin.config('SET', 'notify-keyspace-events', '');
  expect(await flags(admin)).toBe('');
}

describe('keyspace notifications turned off at runtime', () => {
  it('a fixed-ttl hold (800 ms) expires unannounced: the waiter acquires at its deadline, within 1 s after it', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    await locksWork(server.url, admin, 'warm');
    const holder = kit.hold(lock$('expiring', { redis: kit.client(server.url), prefix: 'n', ttl: 800 }));
    await within(holder.acquired, 5_000, 'the holder');
    const expiresInRedisAt = Number(await admin.hget(stateKey('n', 'expiring'), 'wx'));
    const waiter = kit.hold(lock$('expiring', { redis: server.url, prefix: 'n' }));
    await turnOffWhileWaiting(admin, 'expiring');
    const lease = await within(waiter.acquired, 800 + SLACK + 1_000, 'the waiter');
    const acquiredInRedisAt = lease.fence / 1_000;
    console.log(`[notifications off, ttl 800] the waiter acquired ${(acquiredInRedisAt - expiresInRedisAt).toFixed(1)} ms after the deadline`);
    expect(acquiredInRedisAt).toBeGreaterThanOrEqual(expiresInRedisAt);
    expect(acquiredInRedisAt - expiresInRedisAt).toBeLessThan(SLACK);
    expect(await flags(admin)).toBe(''); // it was the deadline, not an event, that woke it
    expect((await holder.ended).kind).toBe('error'); // the holder learned its ttl ran out
  });

  it('a holder process (lease 600 ms) killed with SIGKILL: the waiter acquires within the lease + 1 s', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    await locksWork(server.url, admin, 'warm');
    const child = kit.worker('holder.ts', { REDIS_URL: server.url, PREFIX: 'n', NAME: 'killed', LEASE: '600' });
    expect((await child.message((m) => m.acquired === true || m.error !== undefined)).acquired).toBe(true);
    const waiter = kit.hold(lock$('killed', { redis: server.url, prefix: 'n' }));
    await turnOffWhileWaiting(admin, 'killed');
    await sleep(700); // renewals keep the hold past the waiter's first deadline
    expect(waiter.leases).toHaveLength(0);
    const killedAt = sharedNow();
    child.kill('SIGKILL');
    const lease = await within(waiter.acquired, 600 + SLACK + 1_000, 'the waiter');
    const after = lease.fence / 1_000 - killedAt;
    console.log(`[notifications off, holder killed] the waiter acquired ${after.toFixed(0)} ms after the kill (lease 600 ms)`);
    expect(after).toBeLessThan(600 + SLACK);
    expect(await flags(admin)).toBe('');
  });

  it('an explicit release (lease 2 s): the waiter acquires by the holder deadline + 1 s at the latest', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    await locksWork(server.url, admin, 'warm');
    const LEASE = 2_000;
    const holder = kit.hold(lock$('released', { redis: kit.client(server.url), prefix: 'n', lease: LEASE }));
    await within(holder.acquired, 5_000, 'the holder');
    const waiter = kit.hold(lock$('released', { redis: server.url, prefix: 'n' }));
    await turnOffWhileWaiting(admin, 'released');
    const deadlineInRedisAt = Number(await admin.hget(stateKey('n', 'released'), 'wx'));
    const releasedAt = sharedNow();
    holder.unsubscribe();
    const lease = await within(waiter.acquired, LEASE + SLACK + 1_000, 'the waiter');
    const acquiredInRedisAt = lease.fence / 1_000;
    console.log(
      `[notifications off, released] the waiter acquired ${(acquiredInRedisAt - releasedAt).toFixed(0)} ms after the release ` +
        `(${(deadlineInRedisAt - releasedAt).toFixed(0)} ms before the holder's deadline)`,
    );
    expect(acquiredInRedisAt).toBeLessThan(deadlineInRedisAt + SLACK);
  });

  it('a subscriber reconnect turns them on again, and a release then wakes the waiter at once', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    await locksWork(server.url, admin, 'warm');
    const holder = kit.hold(lock$('restored', { redis: kit.client(server.url), prefix: 'n', lease: 30_000 }));
    await within(holder.acquired, 5_000, 'the holder');
    const waiter = kit.hold(lock$('restored', { redis: server.url, prefix: 'n' }));
    await turnOffWhileWaiting(admin, 'restored');
    await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
    await eventually(async () => /K/.test(await flags(admin)) && /x|A/.test(await flags(admin)), 3_000, 'Kx back on');
    await eventually(async () => (await subscribers(admin, channelOf('n', 'restored'))) === 1, 3_000, 'resubscribed');
    const releasedAt = performance.now();
    holder.unsubscribe();
    await within(waiter.acquired, 5_000, 'the waiter');
    const after = performance.now() - releasedAt;
    console.log(`[notifications restored by a reconnect] flags '${await flags(admin)}'; the waiter acquired ${after.toFixed(0)} ms after the release`);
    expect(after).toBeLessThan(SLACK);
  });
});
