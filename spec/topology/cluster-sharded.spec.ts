import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import type { LockOptions } from '../../src/index';
import { startMonitor } from '../support/monitor';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';
import { channelOf, namesOn, ownerIn, promoteReplica, sleep, stateKey, waitFor, within, holdLock, ownClient, type Holding, useTopology } from './topology';

/**
 * Redis >= 7 Cluster: release wake-ups travel on sharded pub/sub (SPUBLISH
 * on the shard channel named like the lock's keyspace channel, in its slot;
 * waiters SSUBSCRIBE it on the slot's primary), so a release reaches the
 * slot's shard only; expiry events stay on the plain keyspace channel. And
 * renewals batch per slot. Every waiter here waits behind a default 30 s
 * lease, so only a wake-up can let it in within the bounds below. One test
 * kills a primary, hence a cluster of this file's own, and that test last.
 */
let cluster: RedisClusterHandle;
let prefixes = 0;
const hooks = useTopology(async () => (cluster = await startRedisCluster()));

function connect(): Cluster {
  return ownClient(hooks, new Cluster(cluster.seeds));
}

const prefix = (): string => `s${++prefixes}-${process.pid}`;

const hold = (name: string, opts: LockOptions): Holding => holdLock(hooks, name, opts);

/** Cluster-bus pub/sub messages sent so far, summed over every live node (CLUSTER INFO). */
async function busMessages(): Promise<{ publish: number; shard: number }> {
  let publish = 0;
  let shard = 0;
  for (const node of await cluster.topology()) {
    const info = String(await cluster.command(node.port, 'CLUSTER', 'INFO'));
    publish += Number(/cluster_stats_messages_publish_sent:(\d+)/.exec(info)?.[1] ?? 0);
    shard += Number(/cluster_stats_messages_publishshard_sent:(\d+)/.exec(info)?.[1] ?? 0);
  }
  return { publish, shard };
}

/** Whether `port` has the lock's shard channel subscribed. */
async function shardSubscribed(port: number, p: string, name: string): Promise<boolean> {
  const channels = (await cluster.command(port, 'PUBSUB', 'SHARDCHANNELS', channelOf(p, name))) as string[];
  return channels.length === 1;
}

describe('sharded wake-ups on Redis Cluster', () => {
  it('a release wakes a waiter in another client with one SPUBLISH to the shard, no PUBLISH over the bus', async () => {
    const holderSide = connect();
    const waiterSide = connect();
    const p = prefix();
    const primaries = await cluster.primaries();
    const names = [...namesOn(primaries, p, 2, 'wake').values()].flat(); // 6 names, 2 per primary
    const holds = names.map((name) => hold(name, { redis: holderSide, prefix: p }));
    await within(Promise.all(holds.map((h) => h.acquired)), 5_000, 'holders');
    const waits = names.map((name) => hold(name, { redis: waiterSide, prefix: p }));
    await waitFor(() => diagnostics.waitQueues === names.length, 5_000, 'waiters queued');
    for (const name of names) {
      const owner = ownerIn(primaries, stateKey(p, name));
      for (let i = 0; i < 50 && !(await shardSubscribed(owner.port, p, name)); i++) await sleep(20);
      expect(await shardSubscribed(owner.port, p, name), `${name}: shard channel on its primary`).toBe(true);
    }

    const before = await busMessages();
    for (const h of holds) h.unsubscribe();
    await within(Promise.all(waits.map((w) => w.acquired)), 5_000, 'every waiter, woken');
    await sleep(200); // bus counters of the replicas' acknowledgements settle
    const after = await busMessages();
    const perRelease = {
      publish: (after.publish - before.publish) / names.length,
      shard: (after.shard - before.shard) / names.length,
    };
    console.log(`[cluster sharded] cluster-bus messages per release: PUBLISH ${perRelease.publish}, SPUBLISH ${perRelease.shard}`);
    expect(perRelease.publish, 'plain PUBLISH messages over the bus').toBe(0);
    // One to the slot's one replica: the shard, not every node of the cluster (5 per release with PUBLISH).
    expect(perRelease.shard).toBe(1);
  });

  it('renewals batch per slot: holds sharing a slot renew in one script on its primary', async () => {
    const redis = connect();
    const p = prefix();
    const primaries = await cluster.primaries();
    // Three names in one slot, two alone in slots of their own.
    const bySlot = new Map<number, string[]>();
    let shared: string[] | undefined;
    for (let i = 0; shared === undefined; i++) {
      const name = `slot-${i}`;
      const slot = calculateSlot(stateKey(p, name));
      const list = bySlot.get(slot) ?? [];
      list.push(name);
      bySlot.set(slot, list);
      if (list.length === 3) shared = list;
    }
    const alone = ['alone-a', 'alone-b'];
    const owner = ownerIn(primaries, stateKey(p, shared[0]!));
    const holds = [...shared, ...alone].map((name) => hold(name, { redis, prefix: p, lease: 900 }));
    await within(Promise.all(holds.map((h) => h.acquired)), 5_000, 'holders');
    await sleep(700); // the holds converge on one tick
    const keysPerScript: number[] = [];
    const monitor = await startMonitor(owner.port, (_time, args) => {
      if (args[0]?.toLowerCase() === 'evalsha' && args.slice(3).includes(stateKey(p, shared[0]!))) keysPerScript.push(Number(args[2]));
    });
    await sleep(700);
    await monitor.stop();
    expect(holds.map((h) => h.ending())).toEqual(holds.map(() => undefined));
    expect(keysPerScript.length, 'renewals of the shared slot seen').toBeGreaterThanOrEqual(1);
    // The three holds of the slot in one script, 2 keys each; the others (other slots) not in it.
    expect(keysPerScript.every((keys) => keys === 6), `keys per script: ${keysPerScript.join(', ')}`).toBe(true);
  });

  it('a waiter still wakes after its slot migrates: its shard channel follows the slot', async () => {
    const holderSide = connect();
    const waiterSide = connect();
    const p = prefix();
    const [from, to] = await cluster.primaries();
    const name = namesOn([from!], p, 1, 'moving').get(from!.port)![0]!;
    const holder = hold(name, { redis: holderSide, prefix: p });
    await within(holder.acquired, 5_000, 'holder');
    const waiter = hold(name, { redis: waiterSide, prefix: p });
    await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the waiter queued');
    for (let i = 0; i < 50 && !(await shardSubscribed(from!.port, p, name)); i++) await sleep(20);
    expect(await shardSubscribed(from!.port, p, name)).toBe(true);

    await cluster.migrateSlot(calculateSlot(stateKey(p, name)), to!.port);
    // Redis drops the shard channel on the old owner by itself; the slots refresh moves it to the new one.
    for (let i = 0; i < 150 && !(await shardSubscribed(to!.port, p, name)); i++) await sleep(20);
    expect(await shardSubscribed(to!.port, p, name), 'shard channel on the new owner').toBe(true);
    expect(await shardSubscribed(from!.port, p, name), 'shard channel left on the old owner').toBe(false);
    expect(waiter.leases).toHaveLength(0);

    const released = performance.now();
    holder.unsubscribe();
    await within(waiter.acquired, 5_000, 'the waiter after the migration');
    console.log(`[cluster sharded] wake-up after a slot migration: ${(waiter.leases[0]!.at - released).toFixed(1)} ms`);
  });

  it('a waiter still wakes after a primary failover: its shard channel moves to the promoted replica', async () => {
    const holderSide = connect();
    const waiterSide = connect();
    const p = prefix();
    const primaries = await cluster.primaries();
    const victim = primaries[primaries.length - 1]!;
    const [replica] = await cluster.replicasOf(victim.port);
    const name = namesOn([victim], p, 1, 'failover').get(victim.port)![0]!;
    // Acknowledged by the replica: the hold survives the promotion, so only a wake-up lets the waiter in.
    const holder = hold(name, { redis: holderSide, prefix: p, replicas: 1 });
    await within(holder.acquired, 5_000, 'holder');
    const waiter = hold(name, { redis: waiterSide, prefix: p });
    await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the waiter queued');

    await cluster.killNode(victim.port);
    await promoteReplica(cluster, replica!.port);
    for (let i = 0; i < 250 && !(await shardSubscribed(replica!.port, p, name)); i++) await sleep(20);
    expect(await shardSubscribed(replica!.port, p, name), 'shard channel on the promoted replica').toBe(true);
    expect(holder.ending(), 'the acknowledged hold survived').toBeUndefined();
    expect(waiter.leases).toHaveLength(0);

    const released = performance.now();
    holder.unsubscribe();
    await within(waiter.acquired, 5_000, 'the waiter after the failover');
    console.log(`[cluster sharded] wake-up after a failover: ${(waiter.leases[0]!.at - released).toFixed(1)} ms`);
  }, 40_000);
});
