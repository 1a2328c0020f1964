import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { LockTimeoutError, lock$, type Lease, type LockOptions } from '../../src/index';
import { openConnection } from '../../src/redis/connection';
import { escapeKeyPart, lockKeys } from '../../src/redis/keys';
import { lockKind } from '../../src/redis/kinds/lock-kind';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { waitFor } from '../core/holding';
import { useRedis } from '../support/redis-context';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';

const redis = useRedis();
let timersBefore = 0;
const subscriptions: { unsubscribe(): void }[] = [];
const extraClients: Redis[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  await expectQuiescent(timersBefore);
  await Promise.all(extraClients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
});

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

/** Holds `name`, queues a waiter, releases: resolves with the handoff delay in ms. */
async function handoff(name: string, opts: LockOptions): Promise<number> {
  const holder = (await acquire(name, opts)).subscription;
  const waiting = acquire(name, opts);
  await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the waiter queued');
  const released = performance.now();
  holder.unsubscribe();
  const delay = (await waiting).at - released;
  await waitFor(() => diagnostics.waitQueues === 0, 5_000, 'the queue gone');
  return delay;
}

const ODD_NAMES = [
  '{',
  '}',
  '{}',
  '{a}',
  'a}{b',
  '%7B', // must not meet '{'
  '%',
  'with spaces ',
  'line\nbreak',
  'nul\0byte',
  'tab\there',
  'ünïcødé 🔒 鎖',
  ':',
  '*?[glob]',
];

describe('key layout', () => {
  it('keeps prefix and name apart: a:b under x is not b under x:a', async () => {
    const x = lockKeys('x', 'a:b', 0);
    const xa = lockKeys('x:a', 'b', 0);
    expect(x.state).not.toBe(xa.state);
    expect(x.fence).not.toBe(xa.fence);

    const prefix = redis.prefix();
    const client = redis.client();
    await acquire('a:b', { redis: client, prefix: `${prefix}:x`, timeout: 0 });
    await acquire('b', { redis: client, prefix: `${prefix}:x:a`, timeout: 0 }); // not the same lock

    // The default kinds cache their targets by connection, prefix and name: never one for the other.
    const connection = openConnection(client);
    try {
      const kind = lockKind('write');
      const ab = kind.target(connection, 'x', 'a:b');
      expect(kind.target(connection, 'x:a', 'b').slotKey).toBe(xa.state);
      expect(ab.slotKey).toBe(x.state);
      expect(kind.target(connection, 'x', 'a:b'), 'cached').toBe(ab);
      expect(lockKind('read').target(connection, 'x', 'a:b'), 'one cache per kind').not.toBe(ab);
    } finally {
      connection.release();
    }
  });

  it('names with braces, spaces, newlines, NUL and unicode all work, each its own lock', async () => {
    const prefix = redis.prefix();
    const client = redis.client();
    const opts = { redis: client, prefix, timeout: 0 };
    const held = await Promise.all(ODD_NAMES.map((name) => acquire(name, opts)));
    expect(held.map((h) => h.lease.name)).toEqual(ODD_NAMES);

    const again = await Promise.allSettled(ODD_NAMES.map((name) => acquire(name, opts)));
    for (const attempt of again) {
      expect(attempt.status).toBe('rejected');
      expect(attempt.status === 'rejected' && attempt.reason).toBeInstanceOf(LockTimeoutError);
    }
    const stored = await client.keys(`${prefix}:lock:*`);
    expect(stored.filter((k) => !k.endsWith(':fence')).sort()).toEqual(
      ODD_NAMES.map((name) => lockKeys(prefix, name, 0).state).sort(),
    );
  });

  it('escapes %, { and } only', () => {
    expect(escapeKeyPart('a{b}c%d: é\n')).toBe('a%7Bb%7Dc%25d: é\n');
    expect(lockKeys('', 'n', 0).state).toBe('lock:{n}');
    expect(lockKeys('p{x}', 'n', 0).state).toBe('p%7Bx%7D:lock:{n}');
    expect(lockKeys('p', 'n', 0).fence).toBe('p:lock:{n}:fence');
  });

  it("names the keyspace channel with the db and the client's keyPrefix", () => {
    expect(lockKeys('p', 'n', 3, 'kp:').channel).toBe('__keyspace@3__:kp:p:lock:{n}');
    expect(lockKeys('', 'n', 0).channel).toBe('__keyspace@0__:lock:{n}');
  });

  it('wakes waiters promptly in another db and through a client with a keyPrefix', async () => {
    const inDb3 = await handoff('db3', { redis: redis.url.replace(/\/0$/, '/3'), prefix: redis.prefix() });
    const prefixed = new Redis(redis.url, { keyPrefix: `${redis.prefix()}:` });
    extraClients.push(prefixed);
    const withKeyPrefix = await handoff('kp', { redis: prefixed });
    // A wrong channel would leave the waiter to its deadline: the default 30 s lease.
    expect(inDb3).toBeLessThan(500);
    expect(withKeyPrefix).toBeLessThan(500);
  });
});

describe('on Redis Cluster', () => {
  let server: RedisServerHandle;
  let dir: string;
  let admin: Redis;

  beforeAll(async () => {
    dir = mkdtempSync(path.join(tmpdir(), 'yadl-cluster-'));
    server = await startRedisServer({
      args: ['--cluster-enabled', 'yes', '--cluster-config-file', path.join(dir, 'nodes.conf'), '--dir', dir],
    });
    admin = new Redis(server.url);
    await admin.call('CLUSTER', 'ADDSLOTSRANGE', '0', '16383');
  });

  afterAll(async () => {
    await admin?.quit().catch(() => admin.disconnect());
    await server?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  const slot = async (key: string): Promise<number> => (await admin.call('CLUSTER', 'KEYSLOT', key)) as number;

  it('puts every key of one lock in one slot, whatever the name', async () => {
    for (const name of [...ODD_NAMES, 'plain', 'a:b']) {
      for (const prefix of ['', 'app', 'x:{y}']) {
        const keys = lockKeys(prefix, name, 0);
        const expected = await slot(`{${escapeKeyPart(name)}}`);
        expect([await slot(keys.state), await slot(keys.fence)], JSON.stringify({ prefix, name })).toEqual([
          expected,
          expected,
        ]);
      }
    }
  });

  it('runs unchanged on a (one-node) cluster: acquire, wait, hand over', async () => {
    for (let i = 0; ; i++) {
      const info = (await admin.call('CLUSTER', 'INFO')) as string;
      if (info.includes('cluster_state:ok')) break;
      if (i > 100) throw new Error(`the cluster did not come up:\n${info}`);
      await new Promise((resolve) => setTimeout(resolve, 100));
    }
    const opts = { redis: server.url, prefix: 'app' };
    expect(await handoff('x{y}z', opts)).toBeLessThan(500);
    expect(await handoff('plain', opts)).toBeLessThan(500);
  });
});
