/** Helpers shared by the cluster and sentinel specs, and the conformance suite's site on them. */
import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import { afterAll, afterEach, beforeAll, beforeEach, expect } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { lock$, type LockOptions, type RedisSource } from '../../src/index';
import type { ConformingLock, Site } from '../facade/conformance/factory';
import { lockKeys } from '../../src/redis/keys';
import { sleep, subscribeLock, waitFor, type Holding } from '../core/holding';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import type { ClusterNodeInfo, RedisClusterHandle } from '../support/redis-cluster';

export { percentile, sleep, subscribeLock, waitFor, within, type Holding } from '../core/holding';

/** The state key of lock `name` under `prefix` (db 0, no client keyPrefix). */
export function stateKey(prefix: string, name: string): string {
  return lockKeys(prefix, name, 0).state;
}

export function channelOf(prefix: string, name: string): string {
  return lockKeys(prefix, name, 0).channel;
}

/** The primary (of `primaries`) whose slot ranges hold `key`'s slot. */
export function ownerIn(primaries: readonly ClusterNodeInfo[], key: string): ClusterNodeInfo {
  const owner = findOwner(primaries, key);
  if (owner === undefined) throw new Error(`no primary serves slot ${calculateSlot(key)} of ${key}`);
  return owner;
}

function findOwner(primaries: readonly ClusterNodeInfo[], key: string): ClusterNodeInfo | undefined {
  const slot = calculateSlot(key);
  return primaries.find((p) =>
    p.slots.some((range) => {
      const [from = -1, to = from] = range.split('-').map(Number);
      return slot >= from && slot <= to;
    }),
  );
}

/** `count` names per primary (of those given): names whose lock keys live on that primary. */
export function namesOn(
  primaries: readonly ClusterNodeInfo[],
  prefix: string,
  count: number,
  stem = 'n',
): Map<number, string[]> {
  const byPort = new Map<number, string[]>(primaries.map((p) => [p.port, []]));
  for (let i = 0; [...byPort.values()].some((names) => names.length < count); i++) {
    const name = `${stem}-${i}`;
    const names = byPort.get(findOwner(primaries, stateKey(prefix, name))?.port ?? -1);
    if (names !== undefined && names.length < count) names.push(name);
  }
  return byPort;
}

/**
 * After its primary was killed: waits for the replica on `replicaPort` to be
 * promoted (automatic after cluster-node-timeout, 1 s; forced with TAKEOVER
 * if slow), then for the cluster to be ok. Resolves whether it was automatic.
 */
export async function promoteReplica(cluster: RedisClusterHandle, replicaPort: number): Promise<boolean> {
  let promoted = false;
  for (const until = performance.now() + 5_000; performance.now() < until && !promoted; await sleep(100)) {
    promoted = ((await cluster.command(replicaPort, 'ROLE')) as unknown[])[0] === 'master';
  }
  if (!promoted) await cluster.command(replicaPort, 'CLUSTER', 'FAILOVER', 'TAKEOVER');
  await cluster.waitUntilOk(15_000);
  return promoted;
}

/** Parses CLIENT LIST output into one record per connection. */
export function clientList(text: unknown): Record<string, string>[] {
  return String(text)
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => Object.fromEntries(line.trim().split(' ').map((kv) => [kv.slice(0, kv.indexOf('=')), kv.slice(kv.indexOf('=') + 1)])));
}

/** Intervals during which a holder held; asserts helpers can check for overlap. */
export interface HoldSpan {
  who: string;
  from: number;
  to: number;
}

/** True when two spans overlap (a gap of 0 is no overlap). */
export function overlapping(spans: readonly HoldSpan[]): [HoldSpan, HoldSpan] | undefined {
  const sorted = [...spans].sort((a, b) => a.from - b.from);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.from < sorted[i - 1]!.to) return [sorted[i - 1]!, sorted[i]!];
  }
  return undefined;
}

/** What every topology spec closes after each test. */
export interface TopologyHooks {
  /** Lock subscriptions to unsubscribe after the test. */
  readonly holdings: Holding[];
  /** ioredis clients (or clusters) to quit after the test. */
  readonly clients: { quit(): Promise<unknown>; disconnect(): void }[];
  /** Facade instances: one still holding after the test is freed first, and fails the test once all is closed. */
  readonly locks: Pick<ConformingLock, 'name' | 'fence' | 'release'>[];
  /** Active timers when the test began, for expectQuiescent. */
  timersBefore(): number;
}

/**
 * One topology per spec file: `start` runs before all tests (and its handle
 * is stopped after them); after each test the holdings and clients are
 * closed and yadl must be quiescent.
 */
export function useTopology(start: () => Promise<{ stop(): Promise<void> }>): TopologyHooks {
  let handle: { stop(): Promise<void> } | undefined;
  let timers = 0;
  const hooks: TopologyHooks = { holdings: [], clients: [], locks: [], timersBefore: () => timers };
  beforeAll(async () => {
    handle = await start();
  }, 60_000);
  afterAll(async () => {
    await handle?.stop();
  });
  beforeEach(() => {
    timers = activeTimers();
  });
  afterEach(async () => {
    const holding = hooks.locks.splice(0).filter((lock) => lock.fence !== undefined);
    await Promise.all(holding.map((lock) => lock.release({ force: true }).catch(() => undefined)));
    for (const h of hooks.holdings.splice(0)) h.unsubscribe();
    await waitFor(() => diagnostics.connectionUsers === 0, 5_000, 'every release sent');
    await Promise.all(hooks.clients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
    await expectQuiescent(timers);
    expect(holding.map((lock) => lock.name), 'instances still holding at the end of the test').toEqual([]);
  });
  return hooks;
}

/** lock$ held for the test, unsubscribed after it (useTopology). */
export function holdLock(hooks: Pick<TopologyHooks, 'holdings'>, name: string, opts: LockOptions): Holding {
  const h = subscribeLock(lock$(name, opts));
  hooks.holdings.push(h);
  return h;
}

/**
 * A test's own client, quit after it (useTopology). Its 'error' events are
 * expected (a killed node, a failover's disconnects); commands report them too.
 */
export function ownClient<C extends Redis | Cluster>(hooks: Pick<TopologyHooks, 'clients'>, client: C): C {
  client.on('error', () => undefined);
  hooks.clients.push(client);
  return client;
}

/**
 * A conformance Site (spec/facade/conformance/factory.ts) on the topology of
 * the spec file: a prefix and a lock name per test (on a Cluster, the 52
 * conformance tests' names spread 21/16/15 over the three primaries), one
 * client per test made by `connect`, closed with every other client by
 * useTopology.
 */
export function topologySite(
  hooks: TopologyHooks,
  { where, tag, connect, ownSource }: { where: string; tag: string; connect: () => Redis | Cluster; ownSource: () => RedisSource },
): Site {
  let tests = 0;
  let client: Redis | Cluster | undefined;
  beforeEach(() => {
    tests += 1;
    client = undefined;
  });
  const newClient = (): Redis | Cluster => {
    const made = connect();
    hooks.clients.push(made);
    return made;
  };
  return {
    where,
    lock: (Lock, options, name = `resource-${tests}`) => {
      const server = ['redis', 'host', 'port', 'password', 'db'].some((key) => options?.[key as keyof typeof options] !== undefined);
      if (!server) client ??= newClient();
      const lock = new Lock(name, { prefix: `${tag}${tests}-${process.pid}`, ...(server ? {} : { redis: client }), ...options });
      hooks.locks.push(lock);
      return lock;
    },
    client: newClient,
    ownSource,
  };
}
