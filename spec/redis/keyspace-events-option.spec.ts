/**
 * The `keyspaceEvents` option on private redis-servers (stock: notifications
 * off). 'assume' and 'off' never send CONFIG, and still hand over: a release
 * wakes the waiter at once (yadl's scripts publish it), and with 'off' an
 * expiry is caught by the waiter's deadline retry. 'configure' (the default)
 * merges Kx in, and wins on a connection shared with 'assume' waiters.
 *
 * CONFIG is counted with INFO commandstats: Redis never shows admin commands
 * such as CONFIG in MONITOR, so a MONITOR would see nothing either way. The
 * admin client reads the flags only after the counts.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { RedisLock, lock$, type LockOptions } from '../../src/index';
import { channelOf, commandCalls, eventually, sleep, stateKey, subscribers, useFaultKit, within } from '../faults/fault-kit';

const kit = useFaultKit();
const SLACK = 1_000;

async function configCalls(admin: Redis): Promise<number> {
  const calls = await commandCalls(admin);
  return Object.entries(calls)
    .filter(([command]) => command.startsWith('config'))
    .reduce((sum, [, n]) => sum + n, 0);
}

async function flags(admin: Redis): Promise<string> {
  const reply = (await admin.config('GET', 'notify-keyspace-events')) as string[];
  return reply[1] ?? '';
}

async function waiting(admin: Redis, prefix: string, name: string): Promise<void> {
  await eventually(async () => (await subscribers(admin, channelOf(prefix, name))) === 1, 5_000, `a waiter subscribed to ${name}`);
}

/** A holder and a waiter with `options`; the release must wake the waiter well before the holder's 30 s lease. */
async function releaseHandsOver(redis: NonNullable<LockOptions['redis']>, admin: Redis, name: string, options: LockOptions): Promise<number> {
  const holder = kit.hold(lock$(name, { redis, prefix: 'ks', ...options }));
  await within(holder.acquired, 5_000, 'the holder');
  const waiter = kit.hold(lock$(name, { redis, prefix: 'ks', ...options }));
  await waiting(admin, 'ks', name);
  const releasedAt = performance.now();
  holder.unsubscribe();
  await within(waiter.acquired, 5_000, 'the waiter');
  const after = performance.now() - releasedAt;
  waiter.unsubscribe();
  return after;
}

describe('keyspaceEvents', () => {
  it("'configure' (the default) merges Kx into notify-keyspace-events with CONFIG", async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    expect(await releaseHandsOver(server.url, admin, 'configured', {})).toBeLessThan(SLACK);
    expect(await configCalls(admin)).toBeGreaterThanOrEqual(1);
    expect(await flags(admin)).toMatch(/^(?=.*K)(?=.*x)/);
  });

  it("'assume' never sends CONFIG, and a release still wakes the waiter at once", async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const after = await releaseHandsOver(server.url, admin, 'assumed', { keyspaceEvents: 'assume' });
    console.log(`[keyspaceEvents 'assume'] the waiter acquired ${after.toFixed(1)} ms after the release`);
    expect(after).toBeLessThan(SLACK);
    expect(await configCalls(admin)).toBe(0);
    expect(await flags(admin)).toBe('');
  });

  it("'off' never sends CONFIG: a release wakes the waiter at once, and an expiry is caught by the deadline retry", async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    expect(await releaseHandsOver(server.url, admin, 'released', { keyspaceEvents: 'off' })).toBeLessThan(SLACK);

    const TTL = 800;
    const holder = kit.hold(lock$('expiring', { redis: server.url, prefix: 'ks', ttl: TTL, keyspaceEvents: 'off' }));
    await within(holder.acquired, 5_000, 'the holder');
    const expiresInRedisAt = Number(await admin.hget(stateKey('ks', 'expiring'), 'wx'));
    const waiter = kit.hold(lock$('expiring', { redis: server.url, prefix: 'ks', keyspaceEvents: 'off' }));
    const lease = await within(waiter.acquired, TTL + SLACK + 2_000, 'the waiter');
    const late = lease.fence / 1_000 - expiresInRedisAt; // fences are the server's clock in µs
    console.log(`[keyspaceEvents 'off'] the waiter acquired ${late.toFixed(1)} ms after the holder's ttl ran out`);
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late).toBeLessThan(SLACK);
    expect((await holder.ended).kind).toBe('error');

    expect(await configCalls(admin)).toBe(0);
    expect(await flags(admin)).toBe('');
  });

  it("one connection, two settings: 'configure' wins once a waiter asks for it, and is forgotten when nobody waits", async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    // A client of our own: its connection (and subscriber) outlive the waiters, unlike one yadl opens from a URL.
    const client = kit.client(server.url);
    const holderA = kit.hold(lock$('a', { redis: client, prefix: 'ks' }));
    const holderB = kit.hold(lock$('b', { redis: client, prefix: 'ks' }));
    await within(Promise.all([holderA.acquired, holderB.acquired]), 5_000, 'the holders');

    const assuming = kit.hold(lock$('a', { redis: client, prefix: 'ks', keyspaceEvents: 'assume' }));
    await waiting(admin, 'ks', 'a');
    await sleep(100);
    expect(await configCalls(admin)).toBe(0);

    // The subscriber connection is in subscriber mode by now, where Redis refuses CONFIG: it goes through the data connection.
    const configuring = kit.hold(lock$('b', { redis: client, prefix: 'ks' }));
    await waiting(admin, 'ks', 'b');
    await eventually(async () => (await configCalls(admin)) >= 1, 3_000, 'CONFIG for the configuring waiter');
    const calls = await configCalls(admin);
    expect(await flags(admin)).toMatch(/^(?=.*K)(?=.*x)/);

    for (const h of [holderA, holderB, assuming, configuring]) h.unsubscribe();
    await admin.config('SET', 'notify-keyspace-events', '');
    // Nobody waits: the channels linger out and the subscriber connection closes.
    await eventually(async () => diagnostics.channels === 0, 5_000, 'the subscriber to close');
    const before = await configCalls(admin);
    expect(before).toBe(calls + 2); // our own GET and SET

    expect(await releaseHandsOver(client, admin, 'c', { keyspaceEvents: 'assume' })).toBeLessThan(SLACK);
    expect(await configCalls(admin)).toBe(before);
  });

  it('is validated like the other options, on lock$ and the facade, which passes it on', async () => {
    expect(() => lock$('x', { keyspaceEvents: 'never' as 'off' })).toThrow(
      new TypeError("keyspaceEvents must be 'configure', 'assume' or 'off', got the string 'never'"),
    );
    expect(() => lock$('x', { keyspaceEvents: false as unknown as 'off' })).toThrow(TypeError);
    expect(() => lock$('x', { keyspaceEvent: 'off' } as LockOptions)).toThrow(/did you mean 'keyspaceEvents'/);
    expect(() => new RedisLock('x', { keyspaceEvents: 'sometimes' as 'off' })).toThrow(TypeError);
    for (const value of ['configure', 'assume', 'off'] as const) {
      expect(() => new RedisLock('x', { keyspaceEvents: value })).not.toThrow();
    }

    const server = await kit.server();
    const admin = kit.admin(server.url);
    const holder = new RedisLock('facade', { redis: server.url, prefix: 'ks', keyspaceEvents: 'assume' });
    const waiter = new RedisLock('facade', { redis: server.url, prefix: 'ks', keyspaceEvents: 'assume' });
    await holder.acquire();
    const acquiring = waiter.acquire({ timeout: 10_000 });
    await waiting(admin, 'ks', 'facade');
    const releasedAt = performance.now();
    await holder.release();
    expect(await acquiring).toBe(true);
    expect(performance.now() - releasedAt).toBeLessThan(SLACK);
    await waiter.release();
    expect(await configCalls(admin)).toBe(0);
  });
});
