/**
 * Semaphores on a real Redis Cluster (3 primaries, 3 replicas): each
 * semaphore's hash sits in its name's slot, grants and the stored limit work
 * there, and a release on one primary wakes a waiter through that node's
 * keyspace channel, for names served by different primaries.
 */
import { Cluster } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSemaphore } from '../../src/index';
import { semaphoreKeys } from '../../src/redis/keys';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';

let cluster: RedisClusterHandle;
let client: Cluster;

beforeAll(async () => {
  cluster = await startRedisCluster();
  client = new Cluster(cluster.seeds);
}, 120_000);

afterAll(async () => {
  await client.quit().catch(() => client.disconnect());
  await cluster.stop();
});

describe('semaphores on Redis Cluster', () => {
  it('grants, waits and wakes for names on different primaries; the limit is stored in each name slot', { timeout: 60_000 }, async () => {
    const timers = activeTimers();
    const names = ['a', 'b', 'c', 'd', 'e', 'f'];
    const owners = new Set<number>();
    for (const name of names) owners.add((await cluster.ownerOf(semaphoreKeys('cs', name, 0).state)).port);
    expect(owners.size, 'the names are spread over several primaries').toBeGreaterThan(1);

    await Promise.all(
      names.map(async (name) => {
        const holder = new RedisSemaphore(name, { redis: client, prefix: 'cs', limit: 2 });
        const other = new RedisSemaphore(name, { redis: { cluster: cluster.seeds }, prefix: 'cs' });
        expect(await holder.acquire({ permits: 2 })).toBe(true);
        expect(await other.acquire({ blocking: false })).toBe(false);
        const waiting = other.acquire({ timeout: 5_000 });
        await new Promise((resolve) => setTimeout(resolve, 50));
        await holder.release();
        expect(await waiting).toBe(true);
        expect(await holder.available()).toBe(0);
        await Promise.all([holder.release(), other.release()]);
        expect(await client.hget(semaphoreKeys('cs', name, 0).state, 'lim')).toBe('2');
      }),
    );
    await expectQuiescent(timers);
  });
});
