import type { ContenderSpec } from '../contenders';
import { now, sleepUntil } from '../support/clock';
import { clusterUnavailable } from '../support/cluster';
import { PARENT } from '../support/ipc';
import { adapterArgs, deadline, mailFrom, openAdapter, place, type AdapterArgs } from './common';
import { task, type Metrics, type Scenario, type ScenarioContext, type Task } from './types';

/** Worker processes sharing the names out. */
export const PROCESSES = 2;

type Deployment = 'single' | 'cluster';

interface SpreadArgs extends AdapterArgs {
  id: number;
  /** This process's names: name-<first> … name-<first + count - 1>. */
  first: number;
  count: number;
}

interface Go {
  startAt: number;
  endAt: number;
}

interface SpreadResult {
  locks: number;
  /** When the last timed round ended, on the shared clock. */
  endedAt: number;
  /** This process's CPU time during the timed rounds, µs. */
  cpuUs: number;
}

/** One warm-up round, then rounds of this process's names acquired and released all at once, from `startAt` until `endAt`. */
const spread = task<SpreadArgs>(async (args, context): Promise<SpreadResult> => {
  const adapter = await openAdapter(args);
  const names = Array.from({ length: args.count }, (_, i) => `name-${args.first + i}`);
  const round = (): Promise<void[]> => Promise.all(names.map(async (name) => (await adapter.acquire(name)).release()));
  try {
    // Connections, scripts and (on the cluster) the slot map, outside of what is measured.
    await round();
    context.send(PARENT, 'ready');
    const { startAt, endAt } = await context.receive<Go>(args.id, 'go');
    await sleepUntil(startAt);
    let locks = 0;
    const cpu = process.cpuUsage();
    do {
      await round();
      locks += names.length;
    } while (now() < endAt);
    const endedAt = now();
    const { user, system } = process.cpuUsage(cpu);
    return { locks, endedAt, cpuUs: user + system };
  } finally {
    await adapter.close();
  }
});

export const clusterTasks: Record<string, Task> = { 's8.spread': spread };

interface Measured {
  locksPerSec: number;
  clientCpuUs: number;
  redisCpuUs: number;
  /** Cluster-bus messages per lock (each lock is one release) for PUBLISH and SPUBLISH; null on the single server. */
  busPublish: number | null;
  busShard: number | null;
}

/** Both processes on one deployment at once, for `clusterMs` from a common start. */
async function measure(context: ScenarioContext, contender: ContenderSpec, rep: number, deployment: Deployment): Promise<Measured> {
  const { cluster, timing } = context;
  if (cluster === undefined) throw new Error('scenario s8 runs only with the Redis Cluster the harness starts for it');
  const { clusterNames: names, clusterMs: durationMs } = timing;
  const { ids, workers } = await place(context, contender, PROCESSES, (index) => index);
  const base = {
    ...adapterArgs(context, contender, rep),
    ...(deployment === 'cluster' ? { cluster: cluster.seeds } : {}),
  };
  const share = Math.ceil(names / ids.length);
  const runs = ids.map((id, i) =>
    workers[i]!.run<SpreadResult>(
      's8.spread',
      { ...base, id, first: i * share, count: Math.max(0, Math.min(share, names - i * share)) } satisfies SpreadArgs,
      deadline(durationMs),
    ),
  );
  await mailFrom(context, 'ready', ids.length, runs);
  const cpuSeconds = (): Promise<number> => (deployment === 'cluster' ? cluster.cpuSeconds() : context.admin.cpuSeconds());
  const redisCpu = await cpuSeconds();
  const bus = deployment === 'cluster' ? await cluster.busMessages() : undefined;
  const startAt = now() + 20;
  ids.forEach((id, i) => workers[i]!.mail(id, 'go', { startAt, endAt: startAt + durationMs } satisfies Go));
  const results = await Promise.all(runs);
  const redisCpuUs = ((await cpuSeconds()) - redisCpu) * 1e6;
  const busAfter = bus === undefined ? undefined : await cluster.busMessages();
  const locks = results.reduce((sum, r) => sum + r.locks, 0);
  // Aggregate: every lock of both processes over the time until the last one finished its last round.
  const elapsedMs = Math.max(...results.map((r) => r.endedAt)) - startAt;
  context.detail(deployment, { locks, elapsedMs, perProcess: results.map((r) => r.locks) });
  return {
    locksPerSec: locks / (elapsedMs / 1000),
    clientCpuUs: results.reduce((sum, r) => sum + r.cpuUs, 0) / locks,
    redisCpuUs: redisCpuUs / locks,
    busPublish: bus === undefined || busAfter === undefined ? null : (busAfter.publish - bus.publish) / locks,
    busShard: bus === undefined || busAfter === undefined ? null : (busAfter.shard - bus.shard) / locks,
  };
}

export const clusterScaleOut: Scenario = {
  id: 's8',
  title: 'Cluster scale-out (many names, 3 primaries vs 1 server)',
  description:
    `${PROCESSES} worker processes share 1000 different names out (500 each) and acquire and release them all at once, in ` +
    'rounds, for a fixed time from a common start after one warm-up round (as in s5, with two processes); locks/s = names ' +
    'acquired and released by both / time until the last round ended. Each repetition measures the same contender on the ' +
    "harness's single Redis server and on a Redis Cluster of 3 primaries + 3 replicas (started for this scenario only, on " +
    'loopback, and stopped after it; the order alternates between repetitions). yadl lock$ is given `{ cluster: seeds }` ' +
    'as `redis`; the raw floor uses an ioredis Cluster. Headline: cluster ÷ single, per repetition, median (above 1× means ' +
    'the cluster served more locks/s). Redis CPU: the single server, or all 6 cluster nodes together (replication ' +
    'included), during the timed rounds. Caution: every process of the run (the workers and all 7 Redis servers) shares ' +
    "this machine's cores, so a cluster can only scale out as far as idle cores allow. Cluster-bus messages per release " +
    '(CLUSTER INFO, all nodes, timed rounds): PUBLISH crosses the bus to every other node (5 here), SPUBLISH (Redis >= 7) ' +
    "only to the slot's replicas (1 here).",
  processes: PROCESSES,
  contenders: ['yadl-lock', 'raw'],
  cluster: true,
  metrics: [
    { key: 'scaleOut', label: 'cluster ÷ single', unit: '×', better: 'higher' },
    { key: 'clusterLocksPerSec', label: 'cluster', unit: 'locks/s', better: 'higher' },
    { key: 'singleLocksPerSec', label: '1 server', unit: 'locks/s', better: 'higher' },
    { key: 'clusterClientCpuUs', label: 'client CPU/lock, cluster', unit: 'µs', better: 'lower' },
    { key: 'singleClientCpuUs', label: 'client CPU/lock, 1 server', unit: 'µs', better: 'lower' },
    { key: 'clusterRedisCpuUs', label: 'Redis CPU/lock, cluster (6 nodes)', unit: 'µs', better: 'lower' },
    { key: 'singleRedisCpuUs', label: 'Redis CPU/lock, 1 server', unit: 'µs', better: 'lower' },
    { key: 'busPublishPerRelease', label: 'cluster-bus PUBLISH messages/release', unit: 'count', better: 'lower' },
    { key: 'busShardPerRelease', label: 'cluster-bus SPUBLISH messages/release', unit: 'count', better: 'lower' },
  ],
  headline: 'scaleOut',
  chart: ['singleLocksPerSec', 'clusterLocksPerSec'],
  unavailable: () => Promise.resolve(clusterUnavailable()),
  async run(context, contender, rep) {
    const order: Deployment[] = rep % 2 === 1 ? ['single', 'cluster'] : ['cluster', 'single'];
    const measured = new Map<Deployment, Measured>();
    for (const deployment of order) measured.set(deployment, await measure(context, contender, rep, deployment));
    const single = measured.get('single');
    const cluster = measured.get('cluster');
    const metrics: Metrics = {
      scaleOut: single !== undefined && cluster !== undefined && single.locksPerSec > 0 ? cluster.locksPerSec / single.locksPerSec : null,
      clusterLocksPerSec: cluster?.locksPerSec ?? null,
      singleLocksPerSec: single?.locksPerSec ?? null,
      clusterClientCpuUs: cluster?.clientCpuUs ?? null,
      singleClientCpuUs: single?.clientCpuUs ?? null,
      clusterRedisCpuUs: cluster?.redisCpuUs ?? null,
      singleRedisCpuUs: single?.redisCpuUs ?? null,
      busPublishPerRelease: cluster?.busPublish ?? null,
      busShardPerRelease: cluster?.busShard ?? null,
    };
    return metrics;
  },
};
