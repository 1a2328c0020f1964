import { adapterArgs, deadline, openAdapter, type AdapterArgs } from './common';
import { task, type Scenario, type Task } from './types';

interface ManyArgs extends AdapterArgs {
  names: number;
  durationMs: number;
}

interface ManyResult {
  locks: number;
  elapsedMs: number;
  /** This process's CPU time during the timed rounds, µs. */
  cpuUs: number;
}

/** Rounds of `names` names acquired and released all at once, until `durationMs` has passed. */
const many = task<ManyArgs>(async (args): Promise<ManyResult> => {
  const adapter = await openAdapter(args);
  const names = Array.from({ length: args.names }, (_, i) => `name-${i}`);
  const round = (): Promise<void[]> => Promise.all(names.map(async (name) => (await adapter.acquire(name)).release()));
  try {
    await round();
    let locks = 0;
    const cpu = process.cpuUsage();
    const start = performance.now();
    do {
      await round();
      locks += names.length;
    } while (performance.now() - start < args.durationMs);
    const elapsedMs = performance.now() - start;
    const { user, system } = process.cpuUsage(cpu);
    return { locks, elapsedMs, cpuUs: user + system };
  } finally {
    await adapter.close();
  }
});

export const manyNamesTasks: Record<string, Task> = { 's5.many': many };

export const manyNames: Scenario = {
  id: 's5',
  title: 'Many names (1000 at once)',
  description:
    'One process acquires and releases 1000 different names concurrently (each name: acquire, then release), in rounds, ' +
    'for a fixed time after one warm-up round; locks/s = names acquired and released / elapsed time. CPU per lock: the ' +
    'worker process during the timed rounds, and the Redis server over the run including the warm-up round.',
  processes: 1,
  contenders: ['yadl-lock', 'yadl-facade', 'redlock', 'sesame', 'redis-semaphore', 'raw', 'async-mutex'],
  metrics: [
    { key: 'locksPerSec', label: 'locks/s', unit: 'locks/s', better: 'higher' },
    { key: 'clientCpuUs', label: 'client CPU/lock', unit: 'µs', better: 'lower' },
    { key: 'redisCpuUs', label: 'Redis CPU/lock', unit: 'µs', better: 'lower' },
  ],
  headline: 'locksPerSec',
  async run(context, contender, rep) {
    const worker = await context.pool.worker(0);
    const { manyNames: names, manyNamesMs: durationMs } = context.timing;
    const redisCpu = await context.admin.cpuSeconds();
    const result = await worker.run<ManyResult>('s5.many', { ...adapterArgs(context, contender, rep), names, durationMs }, deadline(durationMs));
    const redisCpuUs = ((await context.admin.cpuSeconds()) - redisCpu) * 1e6;
    return {
      locksPerSec: result.locks / (result.elapsedMs / 1000),
      clientCpuUs: result.cpuUs / result.locks,
      // The server's CPU covers the warm-up round too.
      redisCpuUs: redisCpuUs / (result.locks + names),
    };
  },
};
