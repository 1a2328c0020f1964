import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { lock$, lockAll$, LockTimeoutError, type LockAllOptions, type MultiLease } from '../../src/index';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';
import { sleep, stateKey, subscribeLock, waitFor, within, type Holding, useTopology } from './topology';

/**
 * lockAll$ on a real Redis Cluster (3 primaries, 3 replicas): names in
 * several slots are taken slot after slot in one order (slot, then key),
 * what was taken on the way is given back on timeout or abort, and names
 * co-located in one slot (a hash tag in the client's keyPrefix) are taken
 * in one atomic script.
 */
let cluster: RedisClusterHandle;
let prefixes = 0;
const { holdings, clients } = useTopology(async () => (cluster = await startRedisCluster()));

function connect(keyPrefix?: string): Cluster {
  const client = new Cluster(cluster.seeds, keyPrefix === undefined ? {} : { keyPrefix });
  clients.push(client);
  return client;
}

const prefix = (): string => `m${++prefixes}-${process.pid}`;

function holdAll(names: string[], opts: LockAllOptions): Holding<MultiLease> {
  const h = subscribeLock(lockAll$(names, opts));
  holdings.push(h as Holding<unknown> as Holding);
  return h;
}

/** The lock state keys (fence counters aside) under `pattern` on every primary. */
async function stateKeys(pattern: string): Promise<string[]> {
  const keys: string[] = [];
  for (const primary of await cluster.primaries()) {
    keys.push(...((await cluster.command(primary.port, 'KEYS', pattern)) as string[]).filter((k) => !k.endsWith(':fence')));
  }
  return keys.sort();
}

/** `count` names of distinct slots, in the order lockAll$ takes them (by slot). */
function namesBySlot(p: string, count: number): string[] {
  const names = Array.from({ length: count }, (_, i) => `r${i}`);
  expect(new Set(names.map((n) => calculateSlot(stateKey(p, n)))).size).toBe(count);
  return names.sort((a, b) => calculateSlot(stateKey(p, a)) - calculateSlot(stateKey(p, b)));
}

describe('lockAll$ on Redis Cluster', () => {
  it('takes names of several slots, and gives back what it took on the way on timeout and on abort', async () => {
    const redis = connect();
    const p = prefix();
    const [first, second, last] = namesBySlot(p, 3) as [string, string, string];
    const all = holdAll([last, first, second], { redis, prefix: p });
    const lease = await within(all.acquired, 5_000, 'three slots');
    expect(Object.keys(lease.fences).sort()).toEqual([first, second, last].sort());
    expect(await stateKeys(`${p}:lock:*`)).toEqual([first, second, last].map((n) => stateKey(p, n)).sort());
    all.unsubscribe();
    await waitFor(() => diagnostics.connectionUsers === 0, 5_000, 'released');
    expect(await stateKeys(`${p}:lock:*`)).toEqual([]);

    // The last slot in the order is held: the multi-lock holds the first two while it waits for it.
    const blocker = subscribeLock(lock$(last, { redis, prefix: p }));
    holdings.push(blocker);
    await blocker.acquired;
    const timed = holdAll([second, last, first], { redis, prefix: p, timeout: 600 });
    await waitFor(() => diagnostics.waitQueues === 1, 3_000, 'waiting for the last slot');
    expect(await stateKeys(`${p}:lock:*`)).toEqual([first, second, last].map((n) => stateKey(p, n)).sort());
    await expect(timed.acquired).rejects.toBeInstanceOf(LockTimeoutError);
    await sleep(50);
    expect(await stateKeys(`${p}:lock:*`)).toEqual([stateKey(p, last)]);

    const controller = new AbortController();
    const aborted = holdAll([first, last, second], { redis, prefix: p, signal: controller.signal });
    await waitFor(() => diagnostics.waitQueues === 1, 3_000, 'waiting again');
    const reason = new Error('enough');
    controller.abort(reason);
    await expect(aborted.acquired).rejects.toBe(reason);
    await sleep(50);
    expect(await stateKeys(`${p}:lock:*`)).toEqual([stateKey(p, last)]);
  });

  it('names co-located by a hash tag in the keyPrefix are taken in one atomic script: nothing is held on the way', async () => {
    const redis = connect('{orders}:');
    const p = prefix();
    const names = ['o1', 'o2', 'o3', 'o4'];
    const blocker = subscribeLock(lock$('o4', { redis, prefix: p }));
    holdings.push(blocker);
    await blocker.acquired;
    const all = holdAll(names, { redis, prefix: p });
    await waitFor(() => diagnostics.waitQueues === 1, 3_000, 'the multi-lock waits');
    await sleep(100);
    // All keys in one slot, on one node; only the blocker's is there.
    expect(await stateKeys('{orders}:*')).toEqual([`{orders}:${stateKey(p, 'o4')}`]);
    blocker.unsubscribe();
    await within(all.acquired, 3_000, 'after the release');
    expect(await stateKeys('{orders}:*')).toEqual(names.map((n) => `{orders}:${stateKey(p, n)}`));
    const owners = new Set(await Promise.all(names.map(async (n) => (await cluster.ownerOf(`{orders}:${stateKey(p, n)}`)).port)));
    expect(owners.size).toBe(1);
  });

  it('8 subscriptions taking random sets of 3 of 6 names over several slots, in random orders, all finish; each name stays exclusive', async () => {
    const redis = connect();
    const p = prefix();
    const pool = Array.from({ length: 6 }, (_, i) => `x${i}`);
    const inside = new Map<string, number>();
    const lastFence = new Map<string, number>();
    let overlaps = 0;
    const worker = async (): Promise<void> => {
      for (let i = 0; i < 8; i++) {
        const names = [...pool].sort(() => Math.random() - 0.5).slice(0, 3);
        const h = holdAll(names, { redis, prefix: p });
        const lease = await h.acquired;
        for (const name of names) {
          if ((inside.get(name) ?? 0) > 0) overlaps += 1;
          inside.set(name, (inside.get(name) ?? 0) + 1);
          expect(lease.fences[name]).toBeGreaterThan(lastFence.get(name) ?? 0);
          lastFence.set(name, lease.fences[name]!);
        }
        await sleep(1 + Math.random() * 3);
        for (const name of names) inside.set(name, inside.get(name)! - 1);
        h.unsubscribe();
      }
    };
    await within(Promise.all(Array.from({ length: 8 }, worker)), 60_000, 'every worker (a deadlock would never finish)');
    expect(overlaps).toBe(0);
  });
});
