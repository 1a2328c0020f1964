import { summarize } from '../support/stats';
import { adapterArgs, deadline, openAdapter, type AdapterArgs } from './common';
import { task, type Scenario, type Task } from './types';

interface PairsArgs extends AdapterArgs {
  durationMs: number;
}

interface PairsResult {
  samples: number[];
  elapsedMs: number;
  /** Pairs including the warm-up (the server's CPU is measured around both). */
  allPairs: number;
  warmUpPairs: number;
  /** This process's CPU time during the timed pairs, µs. */
  cpuUs: number;
}

/** Long enough for V8 to optimize the contender's path before anything is timed. */
const WARM_UP_MS = 300;

/** acquire + release on one name, one after another, for `durationMs`. */
const pairs = task<PairsArgs>(async (args): Promise<PairsResult> => {
  const adapter = await openAdapter(args);
  try {
    let warmUpPairs = 0;
    const warmUpEnd = performance.now() + WARM_UP_MS;
    while (performance.now() < warmUpEnd) {
      await (await adapter.acquire('pair')).release();
      warmUpPairs += 1;
    }
    const samples: number[] = [];
    const cpu = process.cpuUsage();
    const start = performance.now();
    const end = start + args.durationMs;
    let last = start;
    while (last < end) {
      await (await adapter.acquire('pair')).release();
      const t = performance.now();
      samples.push(t - last);
      last = t;
    }
    const { user, system } = process.cpuUsage(cpu);
    return { samples, elapsedMs: last - start, allPairs: samples.length + warmUpPairs, warmUpPairs, cpuUs: user + system };
  } finally {
    await adapter.close();
  }
});

export const uncontendedTasks: Record<string, Task> = { 's1.pairs': pairs };

export const uncontended: Scenario = {
  id: 's1',
  title: 'Uncontended acquire + release',
  description:
    'One process, one name: acquire then release, one pair after another, for a fixed time (after 300 ms of warm-up pairs). ' +
    'A pair is timed from the end of the previous one. lock$ releases by unsubscribing, in the background: its release ' +
    'is written together with the next acquire, so a lock$ pair costs one round trip where the others cost two. ' +
    'CPU per pair: the worker process during the timed pairs (process.cpuUsage), and the Redis server around the whole ' +
    'run including the warm-up (INFO cpu), divided by the pairs.',
  processes: 1,
  contenders: ['yadl-lock', 'yadl-facade', 'redlock', 'sesame', 'redis-semaphore', 'raw', 'ping', 'async-mutex'],
  metrics: [
    { key: 'opsPerSec', label: 'pairs/s', unit: 'ops/s', better: 'higher' },
    { key: 'p50', label: 'pair p50', unit: 'ms', better: 'lower' },
    { key: 'p99', label: 'pair p99', unit: 'ms', better: 'lower' },
    { key: 'clientCpuUs', label: 'client CPU/pair', unit: 'µs', better: 'lower' },
    { key: 'redisCpuUs', label: 'Redis CPU/pair', unit: 'µs', better: 'lower' },
  ],
  headline: 'p50',
  async run(context, contender, rep) {
    const worker = await context.pool.worker(0);
    const durationMs = context.timing.uncontendedMs;
    const redisCpu = await context.admin.cpuSeconds();
    const result = await worker.run<PairsResult>('s1.pairs', { ...adapterArgs(context, contender, rep), durationMs }, deadline(durationMs));
    const redisCpuUs = ((await context.admin.cpuSeconds()) - redisCpu) * 1e6;
    const summary = summarize(result.samples);
    return {
      opsPerSec: result.samples.length / (result.elapsedMs / 1000),
      p50: summary.p50,
      p99: summary.p99,
      clientCpuUs: result.cpuUs / result.samples.length,
      redisCpuUs: redisCpuUs / result.allPairs,
    };
  },
};
