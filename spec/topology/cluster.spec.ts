import { Cluster } from 'ioredis';
import StandaloneConnector from 'ioredis/built/connectors/StandaloneConnector';
import { describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { lock$, LockTimeoutError, RedisLock, ReplicationError, type LockOptions } from '../../src/index';
import { ClusterSubscriber } from '../../src/redis/cluster-subscriber';
import { expectQuiescent } from '../support/quiescence';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';
import { channelOf, clientList, namesOn, ownerIn, percentile, sleep, stateKey, subscribeLock, waitFor, within, type Holding, useTopology } from './topology';

/**
 * yadl on a real Redis Cluster (3 primaries, 3 replicas, one per file):
 * keys spread over the primaries, keyspace channels subscribed on the
 * primary of each lock's slot with one subscriber connection per node.
 */
let cluster: RedisClusterHandle;
let prefixes = 0;
const { holdings, clients, timersBefore } = useTopology(async () => (cluster = await startRedisCluster()));

function connect(): Cluster {
  const client = new Cluster(cluster.seeds);
  clients.push(client);
  return client;
}

const prefix = (): string => `c${++prefixes}-${process.pid}`;

function hold(name: string, opts: LockOptions): Holding {
  const h = subscribeLock(lock$(name, opts));
  holdings.push(h);
  return h;
}

/** Connections of one type on a node, without the one asking. */
async function connections(port: number, type: 'pubsub' | 'normal'): Promise<number> {
  const count = clientList(await cluster.command(port, 'CLIENT', 'LIST', 'TYPE', type)).length;
  return type === 'normal' ? count - 1 : count;
}

describe('yadl on Redis Cluster', () => {
  it('locks 60 names spread over all three primaries', async () => {
    const redis = connect();
    const p = prefix();
    const names = Array.from({ length: 60 }, (_, i) => `spread-${i}`);
    const holds = names.map((name) => hold(name, { redis, prefix: p }));
    await within(Promise.all(holds.map((h) => h.acquired)), 10_000, 'all 60 acquired');

    // Each state key lives on exactly one primary (KEYS lists a node's own keys), the one owning its slot.
    const primaries = await cluster.primaries();
    expect(primaries).toHaveLength(3);
    const found = new Map<string, number>();
    for (const primary of primaries) {
      const keys = ((await cluster.command(primary.port, 'KEYS', `${p}:lock:*`)) as string[]).filter((k) => !k.endsWith(':fence'));
      expect(keys.length, `state keys on ${primary.port}`).toBeGreaterThan(0);
      for (const key of keys) {
        expect(found.has(key), `${key} on two nodes`).toBe(false);
        found.set(key, primary.port);
      }
    }
    expect([...found.keys()].sort()).toEqual(names.map((n) => stateKey(p, n)).sort());
    for (const [key, port] of found) expect(ownerIn(primaries, key).port).toBe(port);
    expect((await cluster.ownerOf(stateKey(p, names[0]!))).port).toBe(found.get(stateKey(p, names[0]!)));

    // Held: a single attempt on any of them fails.
    const second = await Promise.allSettled(names.slice(0, 6).map((n) => within(subscribeLock(lock$(n, { redis, prefix: p, timeout: 0 })).acquired, 5_000)));
    for (const outcome of second) expect(outcome.status === 'rejected' && outcome.reason instanceof LockTimeoutError).toBe(true);

    for (const h of holds) h.unsubscribe();
    await waitFor(() => diagnostics.connectionUsers === 0, 5_000, 'releases sent');
    for (const primary of primaries) {
      const left = ((await cluster.command(primary.port, 'KEYS', `${p}:lock:*`)) as string[]).filter((k) => !k.endsWith(':fence'));
      expect(left, `state keys left on ${primary.port}`).toEqual([]);
    }
    const again = names.map((name) => hold(name, { redis, prefix: p, timeout: 0 }));
    await within(Promise.all(again.map((h) => h.acquired)), 10_000, 'all 60 acquired again');
  });

  it('hands over promptly on every primary (30 handoffs, holder and waiter on separate clients)', async () => {
    const sides = [connect(), connect()];
    const p = prefix();
    const primaries = await cluster.primaries();
    const delays: number[] = [];
    for (const [port, [name]] of namesOn(primaries, p, 1, 'relay')) {
      const perNode: number[] = [];
      let holder = hold(name!, { redis: sides[0]!, prefix: p });
      await within(holder.acquired, 5_000, 'first hold');
      for (let i = 0; i < 10; i++) {
        const waiter = hold(name!, { redis: sides[(i + 1) % 2]!, prefix: p });
        await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the waiter queued');
        await new Promise((resolve) => setTimeout(resolve, 20)); // let SUBSCRIBE reach the node
        const released = performance.now();
        holder.unsubscribe();
        await within(waiter.acquired, 5_000, `handoff ${i} on ${port}`);
        perNode.push(waiter.leases[0]!.at - released);
        holder = waiter;
      }
      holder.unsubscribe();
      expect(Math.max(...perNode), `handoffs on primary ${port}: ${perNode.map((d) => d.toFixed(1)).join(', ')}`).toBeLessThan(500);
      delays.push(...perNode);
    }
    console.log(
      `[cluster] handoff: n=${delays.length} p50=${percentile(delays, 50).toFixed(2)} ms p99=${percentile(delays, 99).toFixed(2)} ms max=${Math.max(...delays).toFixed(2)} ms`,
    );
    expect(delays).toHaveLength(30);
  });

  it('uses two subscriber connections per node for waiters on 20 names: plain channels for expiries, shard channels for wake-ups', async () => {
    const holders = connect();
    const waiters = connect();
    const p = prefix();
    const primaries = await cluster.primaries();
    const names = Array.from({ length: 20 }, (_, i) => `many-${i}`);
    const spread = new Set(names.map((n) => ownerIn(primaries, stateKey(p, n)).port));
    expect(spread.size).toBe(3);
    const holds = names.map((name) => hold(name, { redis: holders, prefix: p }));
    await within(Promise.all(holds.map((h) => h.acquired)), 10_000, 'held');
    const waits = names.flatMap((name) => [hold(name, { redis: waiters, prefix: p }), hold(name, { redis: waiters, prefix: p })]);
    // Each name's channel twice: the keyspace channel and the shard channel of the same name.
    await waitFor(() => diagnostics.waitQueues === 20 && diagnostics.channels === 40, 5_000, 'all queued');

    // Subscriptions are confirmed a moment after the waiters queued.
    const subscribed = async (): Promise<[number, string[], string[], number, string[]][]> =>
      Promise.all(
        cluster.nodes.map(async ({ port }) => {
          const own = primaries.some((x) => x.port === port) ? names.filter((n) => ownerIn(primaries, stateKey(p, n)).port === port) : [];
          const channels = (await cluster.command(port, 'PUBSUB', 'CHANNELS', `__keyspace@0__:${p}:*`)) as string[];
          const shard = (await cluster.command(port, 'PUBSUB', 'SHARDCHANNELS', `__keyspace@0__:${p}:*`)) as string[];
          return [port, channels.sort(), own.map((n) => channelOf(p, n)).sort(), await connections(port, 'pubsub'), shard.sort()];
        }),
      );
    let views = await subscribed();
    for (const until = Date.now() + 3_000; Date.now() < until && views.some(([, got, want, , shard]) => got.length < want.length || shard.length < want.length); ) {
      await new Promise((resolve) => setTimeout(resolve, 50));
      views = await subscribed();
    }
    for (const [port, got, want, pubsub, shard] of views) {
      expect(got, `channels on ${port}`).toEqual(want);
      expect(shard, `shard channels on ${port}`).toEqual(want);
      expect(pubsub, `pubsub connections on ${port}`).toBe(want.length > 0 ? 2 : 0);
    }

    // Each release wakes the head of that name's queue, then the next.
    const [firsts, seconds] = [waits.filter((_, i) => i % 2 === 0), waits.filter((_, i) => i % 2 === 1)];
    for (const h of holds) h.unsubscribe();
    await within(Promise.all(firsts.map((w) => w.acquired)), 5_000, 'first waiters acquired');
    expect(seconds.every((w) => w.leases.length === 0)).toBe(true);
    for (const w of firsts) w.unsubscribe();
    await within(Promise.all(seconds.map((w) => w.acquired)), 5_000, 'second waiters acquired');
  });

  it('read/write locks work on the cluster', async () => {
    const redis = connect();
    const p = prefix();
    const opts = { redis, prefix: p };
    const r1 = hold('rw', { ...opts, mode: 'read' });
    const r2 = hold('rw', { ...opts, mode: 'read' });
    await within(Promise.all([r1.acquired, r2.acquired]), 5_000, 'two readers');
    const w = hold('rw', { ...opts, mode: 'write' });
    await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the writer queued');
    const r3 = hold('rw', { ...opts, mode: 'read' }); // queues behind the writer
    r1.unsubscribe();
    await new Promise((resolve) => setTimeout(resolve, 100));
    expect(w.leases).toHaveLength(0);
    const released = performance.now();
    r2.unsubscribe();
    await within(w.acquired, 2_000, 'the writer');
    expect(w.leases[0]!.at - released).toBeLessThan(500);
    expect(r3.leases).toHaveLength(0);
    w.unsubscribe();
    await within(r3.acquired, 2_000, 'the reader after the writer');
    expect(r3.leases[0]!.lease.fence).toBeGreaterThan(w.leases[0]!.lease.fence);
  });

  it('accepts { cluster: seeds } and closes its connections when idle', async () => {
    const nodePorts = cluster.nodes.map((n) => n.port);
    const baseline = await Promise.all(nodePorts.map(async (port) => (await connections(port, 'normal')) + (await connections(port, 'pubsub'))));
    const source = { cluster: cluster.seeds };
    const p = prefix();
    const first = hold('seeded', { redis: source, prefix: p });
    await within(first.acquired, 5_000, 'first');
    const second = hold('seeded', { redis: source, prefix: p });
    await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'queued');
    const open = await Promise.all(nodePorts.map(async (port) => (await connections(port, 'normal')) + (await connections(port, 'pubsub'))));
    expect(open.reduce((a, b) => a + b)).toBeGreaterThan(baseline.reduce((a, b) => a + b));
    const released = performance.now();
    first.unsubscribe();
    await within(second.acquired, 2_000, 'handoff');
    expect(second.leases[0]!.at - released).toBeLessThan(500);
    second.unsubscribe();

    await expectQuiescent(timersBefore());
    const until = Date.now() + 3_000;
    let now = open;
    while (Date.now() < until) {
      now = await Promise.all(nodePorts.map(async (port) => (await connections(port, 'normal')) + (await connections(port, 'pubsub'))));
      if (now.every((n, i) => n <= baseline[i]!)) break;
      await new Promise((resolve) => setTimeout(resolve, 50));
    }
    expect(now).toEqual(baseline);
  });

  it('replicas: 1 acquires once a replica has the hold; replicas: 2 fails with ReplicationError and leaves the lock free', async () => {
    const redis = connect();
    const p = prefix();
    const primaries = await cluster.primaries();
    const key = stateKey(p, 'acked');
    const owner = ownerIn(primaries, key);
    const [replica] = await cluster.replicasOf(owner.port);

    const acked = hold('acked', { redis, prefix: p, replicas: 1 });
    await within(acked.acquired, 5_000, 'replicas: 1');
    // WAIT said a replica has it, so it is there now (KEYS lists the replica's own keys).
    expect(await cluster.command(replica!.port, 'KEYS', key)).toEqual([key]);
    acked.unsubscribe();

    const facade = new RedisLock('acked-facade', { redis, prefix: p, replicas: 1 });
    expect(await facade.acquire()).toBe(true);
    await facade.release();

    const started = performance.now();
    const tooMany = hold('acked', { redis, prefix: p, replicas: 2, replicaTimeout: 300 });
    const ending = await within(tooMany.ended, 5_000, 'replicas: 2');
    expect(performance.now() - started).toBeGreaterThanOrEqual(250);
    const error = ending.kind === 'error' ? ending.error : undefined;
    expect(error).toBeInstanceOf(ReplicationError);
    expect(error).toMatchObject({ required: 2, acknowledged: 1 });
    expect(tooMany.leases).toHaveLength(0);
    await waitFor(() => diagnostics.connectionUsers === 0, 2_000, 'the hold given back');
    expect(await cluster.command(owner.port, 'EXISTS', key)).toBe(0);
    const after = hold('acked', { redis, prefix: p, timeout: 0 });
    await within(after.acquired, 2_000, 'free after ReplicationError');
  });

  it('a channel listened to before the cluster told its slots waits for them, then is subscribed on the owner (never a guessed node)', async () => {
    // Connections anywhere but this cluster's nodes (127.0.0.1:6379 was the old guess) are refused
    // here, before a socket is opened: a server the test did not start is never touched.
    const ours = new Set(cluster.nodes.map((n) => n.port));
    const elsewhere: number[] = [];
    class OnlyOurNodes extends StandaloneConnector {
      constructor(options: unknown) {
        super(options as ConstructorParameters<typeof StandaloneConnector>[0]);
      }

      override connect(...args: Parameters<StandaloneConnector['connect']>): ReturnType<StandaloneConnector['connect']> {
        const port = Number(this.options.port ?? 6379);
        if (ours.has(port)) return super.connect(...args);
        elsewhere.push(port);
        return Promise.reject(new Error(`the test refused a connection to port ${port}`));
      }
    }
    const lazy = new Cluster(cluster.seeds, { lazyConnect: true, redisOptions: { Connector: OnlyOurNodes } });
    lazy.on('error', () => undefined);
    clients.push(lazy);
    const p = prefix();
    const channel = channelOf(p, 'early');
    const subscriber = new ClusterSubscriber(lazy);
    const messages: string[] = [];
    try {
      const listening = subscriber.listen(channel, {
        message: (event) => messages.push(event),
        resubscribed: () => undefined,
        connectionLost: () => undefined,
      });
      await sleep(300);
      expect(elsewhere, 'connections attempted outside the cluster').toEqual([]);
      expect(await lazy.ping()).toBe('PONG'); // the cluster connects and learns its slots
      expect(await within(listening.ready, 5_000, 'subscribed once the slots are known')).toBe(true);
      const owner = await cluster.ownerOf(stateKey(p, 'early'));
      expect(await cluster.command(owner.port, 'PUBSUB', 'NUMSUB', channel)).toEqual([channel, 1]);
      await cluster.command(owner.port, 'PUBLISH', channel, 'release');
      await waitFor(() => messages.length > 0, 2_000, 'the event from the owner');
      expect(messages).toEqual(['release']);
      expect(elsewhere, 'connections attempted outside the cluster').toEqual([]);
      listening.close();
    } finally {
      subscriber.close();
    }
  });
});
