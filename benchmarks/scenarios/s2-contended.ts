import { now, sleepUntil, spin } from '../support/clock';
import { PARENT } from '../support/ipc';
import { commandDelta } from '../support/redis-admin';
import { summarize } from '../support/stats';
import { adapterArgs, commandsSentBy, deadline, mailFrom, openAdapter, place, warmUp, type AdapterArgs } from './common';
import { analyzeHandoffs, overtaken, OVERTAKE_SLACK_MS, type AcquisitionLog } from './handoffs';
import { task, type Scenario, type Task } from './types';

export const WORKERS = 4;
export const HOLD_MS = 0.2;
const NAME = 'contended';

export interface LoopArgs extends AdapterArgs {
  id: number;
  /** The name looped on; default 'contended' (s10 loops on a semaphore's). */
  name?: string;
}

export interface Go {
  startAt: number;
  endAt: number;
}

/** One logical worker: acquire, hold ~0.2 ms, release, again, until endAt. */
const loop = task<LoopArgs>(async (args, context): Promise<AcquisitionLog> => {
  const adapter = await openAdapter(args);
  try {
    await warmUp(adapter);
    context.send(PARENT, 'ready');
    const { startAt, endAt } = await context.receive<Go>(args.id, 'go');
    const stop = new AbortController();
    await sleepUntil(startAt);
    const timer = setTimeout(() => stop.abort(new Error('time is up')), Math.max(0, endAt - now()));
    const log: AcquisitionLog = [];
    try {
      while (now() < endAt) {
        const waitStart = now();
        let held;
        try {
          held = await adapter.acquire(args.name ?? NAME, stop.signal);
        } catch (error) {
          if (stop.signal.aborted) break;
          throw error;
        }
        const acquiredAt = now();
        spin(HOLD_MS);
        const releasedAt = now();
        await held.release();
        log.push(waitStart, acquiredAt, releasedAt);
      }
    } finally {
      clearTimeout(timer);
    }
    return log;
  } finally {
    await adapter.close();
  }
});

/** Fewest ÷ most acquisitions of one worker: 1 when all got as many; null when nobody acquired. */
export function fairness(perWorker: readonly number[]): number | null {
  const most = Math.max(...perWorker);
  return perWorker.length === 0 || most <= 0 ? null : Math.min(...perWorker) / most;
}

export const contendedTasks: Record<string, Task> = { 's2.loop': loop };

export const contended: Scenario = {
  id: 's2',
  title: 'Contended handoff (4 processes)',
  description:
    `${WORKERS} worker processes loop on one name for a fixed time: acquire, hold ${HOLD_MS} ms (busy), release, acquire again at once. ` +
    'A handoff is a release followed by the acquisition of a different worker that was already waiting (timestamps on the ' +
    'shared clock); a worker that takes its own lock again is counted apart (self re-takes). Fairness: fewest and most ' +
    'acquisitions of one worker, and fewest ÷ most (1 = all alike); overtaken: acquisitions that a worker which began ' +
    `waiting more than ${OVERTAKE_SLACK_MS} ms later got ahead of (0 for first come, first served). ` +
    'Commands per acquisition: INFO commandstats over the run (including the commands run inside ' +
    'Lua scripts; without INFO), the commands the workers\' ioredis clients wrote, and the Redis server\'s CPU (INFO cpu). ' +
    'Caution: a poller\'s "waiter handoffs" here are only the retries that happened to land just after a release (the ' +
    'rest are self re-takes), so its p50 flatters it; scenario s2b measures every handoff. async-mutex is left out: with ' +
    'a busy hold in one thread, nobody is ever waiting when the lock is released.',
  processes: 4,
  contenders: [
    'yadl-lock',
    'yadl-facade',
    'yadl-lock-fair',
    'yadl-facade-fair',
    'redlock',
    'redlock-fast',
    'sesame',
    'sesame-fast',
    'redis-semaphore',
    'redis-semaphore-fast',
    'raw-notified',
  ],
  metrics: [
    { key: 'acqPerSec', label: 'acquisitions/s', unit: 'acq/s', better: 'higher' },
    { key: 'handoffP50', label: 'waiter handoff p50', unit: 'ms', better: 'lower' },
    { key: 'handoffP99', label: 'waiter handoff p99', unit: 'ms', better: 'lower' },
    { key: 'handoffs', label: 'waiter handoffs', unit: 'count' },
    { key: 'selfRetakePct', label: 'self re-takes', unit: '%' },
    { key: 'fairMin', label: 'fewest/worker', unit: 'count' },
    { key: 'fairMax', label: 'most/worker', unit: 'count' },
    { key: 'fairness', label: 'fewest ÷ most', unit: '×', better: 'higher' },
    { key: 'overtakenPct', label: 'overtaken', unit: '%', better: 'lower' },
    { key: 'cmdPerAcq', label: 'Redis cmds/acq (commandstats)', unit: 'cmd', better: 'lower' },
    { key: 'sentPerAcq', label: 'cmds sent/acq', unit: 'cmd', better: 'lower' },
    { key: 'redisCpuUs', label: 'Redis CPU/acq', unit: 'µs', better: 'lower' },
  ],
  headline: 'handoffP50',
  logChart: true,
  async run(context, contender, rep) {
    const { ids, workers, processes } = await place(context, contender, WORKERS, (index) => index);
    const args = adapterArgs(context, contender, rep);
    const durationMs = context.timing.contendedMs;
    const runs = ids.map((id, i) => workers[i]!.run<AcquisitionLog>('s2.loop', { ...args, id }, deadline(durationMs)));
    await mailFrom(context, 'ready', ids.length, runs);
    const statsBefore = await context.admin.commandStats();
    const redisCpu = await context.admin.cpuSeconds();
    const sentBefore = await commandsSentBy(processes);
    const startAt = now() + 20;
    const endAt = startAt + durationMs;
    ids.forEach((id, i) => workers[i]!.mail(id, 'go', { startAt, endAt } satisfies Go));
    const logs = await Promise.all(runs);
    const statsAfter = await context.admin.commandStats();
    const redisCpuUs = ((await context.admin.cpuSeconds()) - redisCpu) * 1e6;
    const sent = (await commandsSentBy(processes)) - sentBefore;
    const delta = commandDelta(statsBefore, statsAfter);
    const commands = delta.total;
    context.detail('commandstats', delta.byCommand);
    const allAcquisitions = logs.reduce((sum, log) => sum + log.length / 3, 0);
    const handoffs = analyzeHandoffs(logs, endAt);
    context.detail('perWorker', handoffs.perWorker);
    context.detail('selfRetakes', handoffs.selfRetakes);
    context.detail('freeGrabs', handoffs.freeGrabs);
    context.detail('commandsSent', sent);
    const delays = summarize(handoffs.delays);
    return {
      acqPerSec: handoffs.acquisitions / (durationMs / 1000),
      handoffP50: delays.p50,
      handoffP99: delays.p99,
      handoffs: delays.n,
      selfRetakePct: handoffs.acquisitions > 1 ? (100 * handoffs.selfRetakes) / (handoffs.acquisitions - 1) : null,
      fairMin: Math.min(...handoffs.perWorker),
      fairMax: Math.max(...handoffs.perWorker),
      fairness: fairness(handoffs.perWorker),
      overtakenPct: handoffs.acquisitions > 0 ? (100 * overtaken(logs, endAt)) / handoffs.acquisitions : null,
      cmdPerAcq: allAcquisitions > 0 ? commands / allAcquisitions : null,
      sentPerAcq: allAcquisitions > 0 ? sent / allAcquisitions : null,
      redisCpuUs: allAcquisitions > 0 ? redisCpuUs / allAcquisitions : null,
    };
  },
};
