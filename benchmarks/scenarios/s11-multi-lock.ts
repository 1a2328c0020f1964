import { now, sleepUntil, spin } from '../support/clock';
import { PARENT } from '../support/ipc';
import { commandDelta } from '../support/redis-admin';
import { summarize } from '../support/stats';
import { adapterArgs, commandsSentBy, deadline, mailFrom, openAdapter, place, type AdapterArgs } from './common';
import { task, type Scenario, type Task } from './types';

const WORKERS = 4;
const NAMES = 50;
const PER_LOCK = 3;
const HOLD_MS = 0.2;

interface LoopArgs extends AdapterArgs {
  id: number;
}

interface Go {
  startAt: number;
  endAt: number;
}

interface LoopResult {
  locks: number;
  /** Acquire call to held, ms, for each multi-lock. */
  waits: number[];
}

/** PER_LOCK distinct names of NAMES, in a random order (so that two workers often name them in opposite orders). */
function randomNames(): string[] {
  const picked = new Set<number>();
  while (picked.size < PER_LOCK) picked.add(Math.floor(Math.random() * NAMES));
  return [...picked].map((i) => `account-${i}`);
}

/** One worker: take 3 random names of 50 at once, hold ~0.2 ms, release, again, until endAt. */
const loop = task<LoopArgs>(async (args, context): Promise<LoopResult> => {
  const adapter = await openAdapter(args);
  const acquireAll = adapter.acquireAll?.bind(adapter);
  if (acquireAll === undefined) throw new Error(`${args.contender} has no multi-resource lock`);
  try {
    for (let i = 0; i < 5; i++) await (await acquireAll([`warm-${i}`, `warm-${i + 1}`, `warm-${i + 2}`])).release();
    context.send(PARENT, 'ready');
    const { startAt, endAt } = await context.receive<Go>(args.id, 'go');
    const stop = new AbortController();
    await sleepUntil(startAt);
    const timer = setTimeout(() => stop.abort(new Error('time is up')), Math.max(0, endAt - now()));
    const waits: number[] = [];
    try {
      while (now() < endAt) {
        const start = now();
        let held;
        try {
          held = await acquireAll(randomNames(), stop.signal);
        } catch (error) {
          if (stop.signal.aborted) break;
          throw error;
        }
        waits.push(now() - start);
        spin(HOLD_MS);
        await held.release();
      }
    } finally {
      clearTimeout(timer);
    }
    return { locks: waits.length, waits };
  } finally {
    await adapter.close();
  }
});

export const multiLockTasks: Record<string, Task> = { 's11.loop': loop };

export const multiLock: Scenario = {
  id: 's11',
  title: 'Multi-resource locks (3 random names of 50, 4 processes)',
  description:
    `${WORKERS} worker processes loop for a fixed time: take ${PER_LOCK} random names out of ${NAMES} at once (in a random ` +
    `order), hold ${HOLD_MS} ms (busy), release, again at once. locks/s = multi-locks held and released by all workers / ` +
    'elapsed time. yadl: lockAll$ (one atomic script over every name; a blocked waiter sleeps until a release or expiry of ' +
    "one of its names). redlock: its multi-resource acquire (one script over every key, retried on its timer when any is " +
    'taken). Wait: acquire call to held, per multi-lock. Commands: INFO commandstats over the run.',
  processes: WORKERS,
  contenders: ['yadl-lock', 'redlock', 'redlock-fast'],
  metrics: [
    { key: 'locksPerSec', label: 'multi-locks/s', unit: 'locks/s', better: 'higher' },
    { key: 'waitP50', label: 'wait p50', unit: 'ms', better: 'lower' },
    { key: 'waitP99', label: 'wait p99', unit: 'ms', better: 'lower' },
    { key: 'cmdPerLock', label: 'Redis cmds/lock (commandstats)', unit: 'cmd', better: 'lower' },
    { key: 'sentPerLock', label: 'cmds sent/lock', unit: 'cmd', better: 'lower' },
  ],
  headline: 'locksPerSec',
  logChart: true,
  async run(context, contender, rep) {
    const { ids, workers, processes } = await place(context, contender, WORKERS, (index) => index);
    const args = adapterArgs(context, contender, rep);
    const durationMs = context.timing.contendedMs;
    const runs = ids.map((id, i) => workers[i]!.run<LoopResult>('s11.loop', { ...args, id }, deadline(durationMs)));
    await mailFrom(context, 'ready', ids.length, runs);
    const statsBefore = await context.admin.commandStats();
    const sentBefore = await commandsSentBy(processes);
    const startAt = now() + 20;
    const endAt = startAt + durationMs;
    ids.forEach((id, i) => workers[i]!.mail(id, 'go', { startAt, endAt } satisfies Go));
    const results = await Promise.all(runs);
    const delta = commandDelta(statsBefore, await context.admin.commandStats());
    const sent = (await commandsSentBy(processes)) - sentBefore;
    context.detail('commandstats', delta.byCommand);
    context.detail('perWorker', results.map((r) => r.locks));
    const locks = results.reduce((sum, r) => sum + r.locks, 0);
    const waits = summarize(results.flatMap((r) => r.waits));
    return {
      locksPerSec: locks / (durationMs / 1000),
      waitP50: waits.p50,
      waitP99: waits.p99,
      cmdPerLock: locks > 0 ? delta.total / locks : null,
      sentPerLock: locks > 0 ? sent / locks : null,
    };
  },
};
