import calculateSlot from 'cluster-key-slot';
import { Cluster } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { LockLostError, type LockOptions } from '../../src/index';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';
import { namesOn, overlapping, promoteReplica, sleep, stateKey, waitFor, within, holdLock, ownClient, type Holding, type HoldSpan, useTopology } from './topology';

/**
 * The cluster changes under waiting and holding locks: a slot migrates to
 * another primary, a primary dies and its replica takes over. Waiters still
 * acquire, holders that lost their hold are told, and never two hold at once.
 */
let cluster: RedisClusterHandle;
let prefixes = 0;
const hooks = useTopology(async () => (cluster = await startRedisCluster()));

function connect(): Cluster {
  return ownClient(hooks, new Cluster(cluster.seeds));
}

const prefix = (): string => `f${++prefixes}-${process.pid}`;

const hold = (name: string, opts: LockOptions): Holding => holdLock(hooks, name, opts);

/** performance.now() at which a holding ended (error) or now if still open. */
function heldUntil(h: Holding): number {
  return h.ending()?.at ?? performance.now();
}

describe('a slot migrated while waiters wait', () => {
  for (const shared of [true, false]) {
    it(`the waiter acquires after the release (holder and waiter on ${shared ? 'one client' : 'two clients'})`, async () => {
      const a = connect();
      const b = shared ? a : connect();
      const p = prefix();
      const primaries = await cluster.primaries();
      const [from, to] = primaries;
      const name = namesOn([from!], p, 1, `moving-${shared}`).get(from!.port)![0]!;
      const slot = calculateSlot(stateKey(p, name));

      const holder = hold(name, { redis: a, prefix: p });
      await within(holder.acquired, 5_000, 'holder');
      const waiter = hold(name, { redis: b, prefix: p });
      await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the waiter queued');
      await sleep(50);

      await cluster.migrateSlot(slot, to!.port);
      expect((await cluster.ownerOf(stateKey(p, name))).port).toBe(to!.port);
      expect(await cluster.command(to!.port, 'EXISTS', stateKey(p, name))).toBe(1);
      await sleep(100);
      expect(waiter.leases).toHaveLength(0);

      const released = performance.now();
      holder.unsubscribe();
      await within(waiter.acquired, 8_000, 'the waiter after the migration');
      const delay = waiter.leases[0]!.at - released;
      console.log(`[cluster] handoff after a slot migration (${shared ? 'one client' : 'two clients'}): ${delay.toFixed(1)} ms`);
      expect(waiter.leases[0]!.lease.fence).toBeGreaterThan(holder.leases[0]!.lease.fence);

      // A new acquisition on the moved slot, from a client that has not seen the move yet.
      waiter.unsubscribe();
      const fresh = hold(name, { redis: connect(), prefix: p });
      await within(fresh.acquired, 5_000, 'a new acquisition on the moved slot');
    });
  }
});

describe('a primary killed', () => {
  it('promotes its replica; holders are told or keep holding, waiters acquire, never two at once', async () => {
    const holderSide = connect();
    const p = prefix();
    const primaries = await cluster.primaries();
    const victim = primaries[primaries.length - 1]!;
    const [replica] = await cluster.replicasOf(victim.port);
    expect(replica).toBeDefined();
    const [short, acked] = namesOn([victim], p, 2, 'doomed').get(victim.port)!;

    // A renewed lease of 1500 ms, likely lost (renewals fail while the cluster fails over), and a
    // default 30 s lease that a replica acknowledged: it survives the promotion, and its expiry
    // (the waiter's deadline) is too far away to be what wakes its waiter.
    const h1 = hold(short!, { redis: holderSide, prefix: p, lease: 1_500 });
    const h2 = hold(acked!, { redis: holderSide, prefix: p, replicas: 1 });
    await within(Promise.all([h1.acquired, h2.acquired]), 5_000, 'holders');
    // Each waiter on its own client (as in another process), so that neither helps the other;
    // one the caller's Cluster, one that yadl creates from seed nodes.
    const w1 = hold(short!, { redis: connect(), prefix: p });
    const w2 = hold(acked!, { redis: { cluster: cluster.seeds }, prefix: p });
    await waitFor(() => diagnostics.waitQueues === 2, 5_000, 'waiters queued');
    await sleep(50);

    const killedAt = performance.now();
    await cluster.killNode(victim.port);
    // A new acquisition on the killed primary's slots, started at once.
    const probe = hold(short!, { redis: connect(), prefix: `${p}-probe` });

    // Promotion: automatic after cluster-node-timeout (1 s); forced if slow.
    const promoted = await promoteReplica(cluster, replica!.port);
    const okAt = performance.now();
    expect(((await cluster.command(replica!.port, 'ROLE')) as unknown[])[0]).toBe('master');

    await within(probe.acquired, 10_000, 'a new acquisition after the failover');
    const probeAt = probe.leases[0]!.at;
    console.log(
      `[cluster] primary killed: cluster ok ${(okAt - killedAt).toFixed(0)} ms after the kill` +
        `${promoted ? '' : ' (forced TAKEOVER)'}; a new acquisition succeeded ${(probeAt - killedAt).toFixed(0)} ms after the kill ` +
        `(${(probeAt - okAt).toFixed(0)} ms from when the test saw the cluster ok again)`,
    );

    // Each holder: told it lost the hold (LockLostError), or still holding and its waiter not.
    await sleep(1_000);
    const cases = [
      { holder: h1, waiter: w1, label: 'lease 1500' },
      { holder: h2, waiter: w2, label: 'acked 30 s lease' },
    ];
    for (const { holder, waiter, label } of cases) {
      const end = holder.ending();
      if (end !== undefined) {
        const error = end.kind === 'error' ? end.error : undefined;
        expect(error, `${label}: ${String(error ?? end.kind)}`).toBeInstanceOf(LockLostError);
        expect(holder.leases[0]!.lease.signal.aborted).toBe(true);
      } else {
        expect(holder.leases[0]!.lease.signal.aborted, `${label} holds`).toBe(false);
        expect(waiter.leases, `${label}: the waiter acquired while the holder holds`).toHaveLength(0);
      }
      console.log(`[cluster] primary killed: the holder with ${label} ${end?.kind === 'error' ? `was told (${(end.error as LockLostError).reason})` : 'still holds'}`);
    }
    // The acknowledged hold survived the promotion.
    expect(h2.ending(), 'the replica-acknowledged hold survived').toBeUndefined();

    const releasedAt = performance.now();
    for (const { holder } of cases) if (holder.ending() === undefined) holder.unsubscribe();
    for (const { holder, waiter, label } of cases) {
      // Generous: the waiter may need a slots refresh to move its subscription to the promoted replica.
      await within(waiter.acquired, 8_000, `the waiter for ${label} after the failover`);
      const letGo = holder.ending()?.at ?? releasedAt;
      const spans: HoldSpan[] = [
        { who: 'holder', from: holder.leases[0]!.at, to: letGo },
        { who: 'waiter', from: waiter.leases[0]!.at, to: heldUntil(waiter) },
      ];
      expect(overlapping(spans), `${label}: two holders at once`).toBeUndefined();
      expect(waiter.leases[0]!.lease.fence).toBeGreaterThan(holder.leases[0]!.lease.fence);
      console.log(`[cluster] primary killed: the waiter for ${label} acquired ${(waiter.leases[0]!.at - letGo).toFixed(0)} ms after the holder let go`);
    }
  }, 45_000);
});

describe('a primary killed, with cluster-require-full-coverage yes (the default)', () => {
  it('stalls locks on every slot, not only the dead primary\'s, until its replica is promoted', async () => {
    const redis = connect();
    const p = prefix();
    const primaries = await cluster.primaries();
    const withReplica: typeof primaries = [];
    for (const primary of primaries) if ((await cluster.replicasOf(primary.port)).length > 0) withReplica.push(primary);
    const victim = withReplica[0]!;
    const [replica] = await cluster.replicasOf(victim.port);
    const bystanders = primaries.filter((x) => x.port !== victim.port);
    const coverage = String(await cluster.command(bystanders[0]!.port, 'CONFIG', 'GET', 'cluster-require-full-coverage'));
    expect(coverage).toContain('yes');
    const names = [...namesOn(primaries, p, 1, 'probe').entries()].map(([port, [name]]) => ({ port, name: name! }));

    // One prober per primary: acquire, release, again, each acquisition's completion time recorded.
    let probing = true;
    const done = new Map<number, number[]>(names.map(({ port }) => [port, []]));
    const probers = names.map(async ({ port, name }) => {
      while (probing) {
        const h = hold(name, { redis, prefix: p, timeout: 10_000, redisTimeout: 10_000 });
        await h.acquired.catch(() => undefined);
        if (h.leases.length > 0) done.get(port)!.push(performance.now());
        h.unsubscribe();
        await sleep(10);
      }
    });
    // What a bystander primary says of the cluster, every 20 ms.
    const states: { at: number; ok: boolean }[] = [];
    const watcher = (async () => {
      while (probing) {
        const info = String(await cluster.command(bystanders[0]!.port, 'CLUSTER', 'INFO').catch(() => ''));
        states.push({ at: performance.now(), ok: info.includes('cluster_state:ok') });
        await sleep(20);
      }
    })();

    await sleep(500);
    const killedAt = performance.now();
    await cluster.killNode(victim.port);
    let promoted = false;
    for (const until = performance.now() + 10_000; performance.now() < until && !promoted; await sleep(50)) {
      promoted = ((await cluster.command(replica!.port, 'ROLE')) as unknown[])[0] === 'master';
    }
    if (!promoted) await cluster.command(replica!.port, 'CLUSTER', 'FAILOVER', 'TAKEOVER');
    await cluster.waitUntilOk(15_000);
    await sleep(1_500);
    probing = false;
    await Promise.all([...probers, watcher]);

    const down = states.filter((s) => s.at > killedAt && !s.ok);
    const failFrom = down[0]?.at;
    const failTo = failFrom === undefined ? undefined : states.find((s) => s.at > failFrom && s.ok)?.at;
    /** The longest time without an acquisition on that primary's slots, after the kill. */
    const stall = (port: number): number => {
      const times = [killedAt, ...done.get(port)!.filter((t) => t > killedAt)];
      let longest = 0;
      for (let i = 1; i < times.length; i++) longest = Math.max(longest, times[i]! - times[i - 1]!);
      return longest;
    };
    const bystanderStalls = bystanders.map((b) => stall(b.port));
    console.log(
      `[cluster full coverage] primary killed at 0 ms${promoted ? '' : ' (forced TAKEOVER)'}; a bystander primary reported cluster_state:fail ` +
        `${failFrom === undefined ? 'never' : `from ${(failFrom - killedAt).toFixed(0)} to ${((failTo ?? Number.NaN) - killedAt).toFixed(0)} ms`}; ` +
        `the longest wait for a lock on the bystanders' slots: ${bystanderStalls.map((m) => m.toFixed(0)).join(', ')} ms; ` +
        `on the dead primary's slots: ${stall(victim.port).toFixed(0)} ms`,
    );
    // Every prober made progress again after the failover.
    for (const { port } of names) expect(done.get(port)!.some((t) => t > killedAt), `locks on ${port} after the failover`).toBe(true);
    // The bystanders' slots stalled too, while the cluster said fail: their locks waited far longer than a round trip.
    expect(failFrom, 'the cluster went to fail').toBeDefined();
    expect(Math.min(...bystanderStalls)).toBeGreaterThan(300);
  }, 60_000);
});

