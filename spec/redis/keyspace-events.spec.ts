import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { lock$, type Lease, type LockOptions } from '../../src/index';
import { mergeFlags } from '../../src/redis/keyspace-events';
import { waitFor } from '../core/holding';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';

let timersBefore = 0;
const servers: RedisServerHandle[] = [];
const clients: Redis[] = [];
const subscriptions: { unsubscribe(): void }[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  await expectQuiescent(timersBefore);
  await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function server(args: string[] = []): Promise<{ url: string; admin: Redis }> {
  const s = await startRedisServer({ args });
  servers.push(s);
  const admin = new Redis(s.url);
  clients.push(admin);
  return { url: s.url, admin };
}

interface Acquired {
  lease: Lease;
  /** When the Lease came, and when the subscription started. */
  at: number;
  subscribedAt: number;
  subscription: { unsubscribe(): void };
}

/** Subscribes; resolves once the Lease comes, rejects with the error. */
function acquire(name: string, opts: LockOptions): Promise<Acquired> {
  return new Promise((resolve, reject) => {
    const subscribedAt = performance.now();
    const subscription = lock$(name, opts).subscribe({
      next: (lease) => resolve({ lease, at: performance.now(), subscribedAt, subscription }),
      error: reject,
    });
    subscriptions.push(subscription);
  });
}

async function flags(admin: Redis): Promise<string> {
  const [, value] = (await admin.config('GET', 'notify-keyspace-events')) as [string, string];
  return value;
}

const sorted = (value: string): string => [...value].sort().join('');

describe('keyspace notifications', () => {
  /** Holds `name` and queues a waiter behind it: the waiter's subscription is what turns the flags on. */
  async function waitOn(name: string, url: string): Promise<void> {
    await acquire(name, { redis: url });
    void acquire(name, { redis: url }).catch(() => undefined);
    await waitFor(() => diagnostics.channels === 1, 5_000, 'the waiter to listen');
    // The subscription is sent once the flags are set, on the same connection: wait for it.
    const admin = new Redis(url);
    clients.push(admin);
    for (let i = 0; i < 100; i++) {
      const numsub = (await admin.call('PUBSUB', 'NUMSUB', `__keyspace@0__:lock:{${name}}`)) as [string, number];
      if (numsub[1] === 1) return;
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    throw new Error('the waiter never subscribed');
  }

  it('are turned on (K, x) when the first waiter subscribes on a stock server, and nothing else', async () => {
    const { url, admin } = await server();
    expect(await flags(admin)).toBe('');
    await acquire('first', { redis: url });
    expect(await flags(admin), 'a plain acquisition changes no server setting').toBe('');
    await waitOn('second', url);
    expect(sorted(await flags(admin))).toBe(sorted('Kx'));
  });

  it('are merged with the flags already set, which are kept', async () => {
    const { url, admin } = await server(['--notify-keyspace-events', 'El']);
    await waitOn('merged', url);
    expect(sorted(await flags(admin))).toBe(sorted('ElKx'));
  });

  it("are left alone when 'A' already covers x", async () => {
    const { url, admin } = await server(['--notify-keyspace-events', 'KA']);
    const before = await flags(admin);
    await waitOn('covered', url);
    expect(await flags(admin)).toBe(before);
  });

  it.each([
    ['', 'Kx'],
    ['El', 'ElKx'],
    ['Kgx', 'Kgx'],
    ['AK', 'AK'],
    ['A', 'AK'],
    ['xE', 'xEK'],
  ])('mergeFlags(%j) is %j', (current, merged) => {
    expect(mergeFlags(current)).toBe(merged);
  });
});

describe('where an administrator turned on every event (KEA)', () => {
  it('a release costs each waiting process one attempt, not one per event', async () => {
    const { url, admin } = await server(['--notify-keyspace-events', 'KEA']);
    const holderClient = new Redis(url);
    clients.push(holderClient);
    const holder = await acquire('kea', { redis: holderClient });
    const waiter = acquire('kea', { redis: url });
    // A second waiter in the same process: a spurious wake-up would make it try too.
    const second = acquire('kea', { redis: url });
    second.catch(() => undefined);
    for (let i = 0; (await admin.call('PUBSUB', 'NUMSUB', '__keyspace@0__:lock:{kea}'))?.toString() !== '__keyspace@0__:lock:{kea},1'; i++) {
      if (i > 100) throw new Error('the waiter never subscribed');
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
    await new Promise((resolve) => setTimeout(resolve, 100)); // the retry after the subscription is confirmed
    await admin.config('RESETSTAT');
    holder.subscription.unsubscribe();
    const acquired = await waiter;
    // Let any second wake-up (the hdel/del keyspace events of the release) arrive and act.
    await new Promise((resolve) => setTimeout(resolve, 200));
    const stats = (await admin.info('commandstats')).match(/cmdstat_evalsha:calls=(\d+)/);
    expect(Number(stats?.[1] ?? 0), 'the release and one attempt').toBe(2);
    acquired.subscription.unsubscribe();
    (await second).subscription.unsubscribe();
  });
});

describe('where CONFIG is forbidden', () => {
  it('locks still work and a release wakes the waiter at once (the release publishes the event)', async () => {
    const { url, admin } = await server(['--rename-command', 'CONFIG', '']);
    await expect(admin.call('CONFIG', 'GET', 'notify-keyspace-events')).rejects.toThrow(/unknown command/i);
    const holder = (await acquire('managed', { redis: url })).subscription; // its lease: the default 30 s
    const waiting = acquire('managed', { redis: url });
    await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the waiter queued');

    const released = performance.now();
    holder.unsubscribe();
    const { at } = await waiting;
    expect(at - released).toBeLessThan(500); // not the holder's deadline, 30 s away
  });

  it("a fixed ttl's expiry still hands over promptly (the waiter's deadline timer)", async () => {
    const { url } = await server(['--rename-command', 'CONFIG', '']);
    const holder = await acquire('expiring', { redis: url, ttl: 300 });
    const next = await acquire('expiring', { redis: url });
    // Redis started the hold between the holder's subscribe and its Lease.
    expect(next.at - holder.subscribedAt).toBeGreaterThanOrEqual(290);
    expect(next.at - holder.at).toBeLessThan(300 + 500);
  });
});
