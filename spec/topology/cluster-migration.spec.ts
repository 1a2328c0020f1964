import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { lock$, RedisUnavailableError, ReplicationError, type LockOptions } from '../../src/index';
import { startRedisCluster, type ClusterNodeInfo, type RedisClusterHandle } from '../support/redis-cluster';
import { namesOn, stateKey, subscribeLock, waitFor, within, type Holding, useTopology } from './topology';

/**
 * A slot caught half-way through a migration (CLUSTER SETSLOT IMPORTING /
 * MIGRATING, some keys moved, no SETSLOT NODE yet), by hand on a local 3+3
 * cluster of this file's own: `replicas` waits on the node that really took
 * the hold, and a free lock there fails with an error that says what Redis
 * kept answering. One test stops a replica for good, hence a cluster per file.
 */
let cluster: RedisClusterHandle;
let prefixes = 0;
const { holdings, clients } = useTopology(async () => (cluster = await startRedisCluster()));

/** A caller's Cluster client, ready (its slot map loaded) before the test moves anything. */
async function connect(): Promise<Cluster> {
  const client = new Cluster(cluster.seeds);
  client.on('error', () => undefined);
  clients.push(client);
  await client.ping();
  return client;
}

const prefix = (): string => `m${++prefixes}-${process.pid}`;

function hold(name: string, opts: LockOptions): Holding {
  const h = subscribeLock(lock$(name, opts));
  holdings.push(h);
  return h;
}

/** Marks `slot` as moving from `from` to `to`, as `redis-cli --cluster reshard` starts it. */
async function startMigration(slot: number, from: ClusterNodeInfo, to: ClusterNodeInfo): Promise<void> {
  await cluster.command(to.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id);
  await cluster.command(from.port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
}

async function moveKeys(from: ClusterNodeInfo, to: ClusterNodeInfo, keys: string[]): Promise<void> {
  await cluster.command(from.port, 'MIGRATE', to.host, to.port, '', 0, 5_000, 'KEYS', ...keys);
}

/** Moves what is left of the slot and gives it to `to` everywhere. */
async function finishMigration(slot: number, from: ClusterNodeInfo, to: ClusterNodeInfo): Promise<void> {
  const left = (await cluster.command(from.port, 'CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
  if (left.length > 0) await moveKeys(from, to, left);
  for (const node of await cluster.primaries()) await cluster.command(node.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
  await cluster.waitUntilOk(15_000);
}

describe('a slot half-way through a migration', () => {
  it('a free lock there fails with RedisUnavailableError naming the TRYAGAIN Redis kept answering, and is taken once the migration completes', async () => {
    const redis = await connect();
    const p = prefix();
    const [from, to] = await cluster.primaries();
    const name = namesOn([from!], p, 1, 'free').get(from!.port)![0]!;
    const slot = calculateSlot(stateKey(p, name));
    // An earlier hold leaves the name's fence counter behind; the lock itself is free.
    const earlier = hold(name, { redis, prefix: p });
    await within(earlier.acquired, 5_000, 'an earlier hold');
    earlier.unsubscribe();
    await waitFor(() => diagnostics.connectionUsers === 0, 5_000, 'released');

    await startMigration(slot, from!, to!);
    try {
      // The counter still on the source, the (absent) state key asked for too: the source answers
      // TRYAGAIN until the migration completes. ioredis retries that on a random primary (which
      // answers MOVED back) until it has seen 16 redirections, then gives up with the last reply.
      const started = performance.now();
      const attempt = hold(name, { redis, prefix: p, redisTimeout: 2_500 });
      const ending = await within(attempt.ended, 15_000, 'the attempt on the migrating slot');
      const error = ending.kind === 'error' ? ending.error : undefined;
      console.log(`[cluster migration] a free lock on a migrating slot: ${String(error)} after ${(ending.at - started).toFixed(0)} ms`);
      expect(error).toBeInstanceOf(RedisUnavailableError);
      expect((error as Error).message).toMatch(
        /^Redis at cluster (kept answering "TRYAGAIN [^"]+"|kept redirecting the command \(last reply "MOVED [^"]+"\)) for \d+ ms$/,
      );
      expect((error as RedisUnavailableError).lastReply).toMatch(/^(TRYAGAIN|MOVED) /);
      expect(attempt.leases).toHaveLength(0);
    } finally {
      await finishMigration(slot, from!, to!);
    }
    const after = hold(name, { redis, prefix: p, timeout: 5_000 });
    await within(after.acquired, 8_000, 'the lock once the migration completed');
  }, 40_000);

  it("replicas: a reader joining readers on the importing primary waits for that primary's replicas, not the source's", async () => {
    const redis = await connect();
    const p = prefix();
    const primaries = await cluster.primaries();
    const [from, to] = primaries;
    const [name, control] = namesOn([from!], p, 2, 'joined').get(from!.port)!;
    const slot = calculateSlot(stateKey(p, name!));
    const first = hold(name!, { redis, prefix: p, mode: 'read' });
    await within(first.acquired, 5_000, 'the first reader');

    // The importing primary loses its only replica; the source keeps its own.
    const [lost] = await cluster.replicasOf(to!.port);
    await cluster.killNode(lost!.port);
    await startMigration(slot, from!, to!);
    // Both keys of the lock move: the source answers ASK for them, the importing primary serves them.
    await moveKeys(from!, to!, [stateKey(p, name!), `${stateKey(p, name!)}:fence`]);
    expect(await cluster.command(to!.port, 'CLUSTER', 'COUNTKEYSINSLOT', slot)).toBe(2);
    try {
      const started = performance.now();
      const joining = hold(name!, { redis, prefix: p, mode: 'read', replicas: 1, replicaTimeout: 500 });
      const ending = await within(
        Promise.race([joining.acquired.then(() => undefined), joining.ended]),
        10_000,
        'the replicated reader',
      );
      const took = performance.now() - started;
      const error = ending?.kind === 'error' ? ending.error : undefined;
      console.log(
        `[cluster migration] a reader joining readers on the importing primary (no replica) with replicas: 1: ` +
          `${joining.leases.length > 0 ? 'got its lease' : String(error)} after ${took.toFixed(0)} ms`,
      );
      expect(joining.leases, 'a lease that no replica of the importing primary has').toHaveLength(0);
      expect(error).toBeInstanceOf(ReplicationError);
      expect(error).toMatchObject({ required: 1, acknowledged: 0 });
      expect(took).toBeGreaterThanOrEqual(450);

      // The source's replica is alive: a replicated reader on one of its other slots is acknowledged.
      const acked = hold(control!, { redis, prefix: p, mode: 'read', replicas: 1, replicaTimeout: 2_000 });
      await within(acked.acquired, 5_000, 'a replicated reader on the source primary');
    } finally {
      await finishMigration(slot, from!, to!);
    }
    expect(first.ending()).toBeUndefined();
  }, 40_000);
});
