import { SEMAPHORE_LIMIT } from '../contenders/semaphores';
import { now, sleep } from '../support/clock';
import { PARENT } from '../support/ipc';
import { commandDelta } from '../support/redis-admin';
import { summarize } from '../support/stats';
import { adapterArgs, deadline, mailFrom, openAdapter, place, warmUp } from './common';
import type { AcquisitionLog } from './handoffs';
import { HOLD_MS, type Go, type LoopArgs } from './s2-contended';
import { task, type Scenario, type Task } from './types';

const WAITERS = 20;
const PROCESSES = 4;
const NAME = 'sem';
const IDLE_NAME = 'sem-idle';
/** The notified raw lock is the floor: a lock, so its "semaphore" has one permit. */
const FLOOR = 'raw-notified';

/** Takes `holds` permits of the idle name and keeps them until told to stop. */
const hold = task<LoopArgs & { holds: number }>(async (args, context) => {
  const adapter = await openAdapter(args);
  try {
    const held = [];
    for (let i = 0; i < args.holds; i++) held.push(await adapter.acquire(IDLE_NAME));
    context.send(PARENT, 'held');
    await context.receive(args.id, 'stop', deadline(60_000));
    for (const h of held) await h.release();
  } finally {
    await adapter.close();
  }
});

/** Waits for a permit of the idle name (after a warm-up on another), then gives it back. */
const wait = task<LoopArgs>(async (args, context) => {
  const adapter = await openAdapter(args);
  try {
    await warmUp(adapter);
    const waiting = adapter.acquire(IDLE_NAME);
    context.send(PARENT, 'waiting');
    await (await waiting).release();
  } finally {
    await adapter.close();
  }
});

/**
 * Release to next grant: for each acquisition that came after a release made
 * while it waited, the time from the latest such release to the grant.
 */
export function releaseToGrant(logs: readonly AcquisitionLog[]): number[] {
  const releases: number[] = [];
  for (const log of logs) for (let i = 2; i < log.length; i += 3) releases.push(log[i] as number);
  releases.sort((a, b) => a - b);
  const delays: number[] = [];
  for (const log of logs) {
    for (let i = 0; i < log.length; i += 3) {
      const waitStart = log[i] as number;
      const acquiredAt = log[i + 1] as number;
      // The latest release at or before the grant (binary search).
      let lo = 0;
      let hi = releases.length;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if ((releases[mid] as number) <= acquiredAt) lo = mid + 1;
        else hi = mid;
      }
      const latest = releases[lo - 1];
      if (latest !== undefined && latest >= waitStart) delays.push(acquiredAt - latest);
    }
  }
  return delays;
}

export const semaphoreTasks: Record<string, Task> = { 's10.hold': hold, 's10.wait': wait };

export const semaphoreScenario: Scenario = {
  id: 's10',
  title: `Semaphore, limit ${SEMAPHORE_LIMIT} (${WAITERS} waiters in ${PROCESSES} processes)`,
  description:
    `${WAITERS} logical workers in ${PROCESSES} processes loop on one semaphore of limit ${SEMAPHORE_LIMIT} for a fixed time: ` +
    `acquire a permit, hold ${HOLD_MS} ms (busy), release, again at once (s2's loop). Release to next grant: for each grant that came ` +
    'after a release made while it waited, the time from the latest such release (any worker) to the grant, on the shared ' +
    'clock. Commands per acquisition: INFO commandstats over the run (commands inside Lua scripts included). Idle: a holder ' +
    `takes every permit, ${WAITERS} waiters wait, and INFO commandstats counts what reaches Redis over the idle window ` +
    `(all waiters together, per second). The floor is the notified raw lock run the same way (a lock: one permit).`,
  processes: PROCESSES,
  contenders: ['yadl-semaphore', 'redis-semaphore-sem', 'redis-semaphore-sem-fast', FLOOR],
  metrics: [
    { key: 'acqPerSec', label: 'acquisitions/s', unit: 'acq/s', better: 'higher' },
    { key: 'cmdPerAcq', label: 'Redis cmds/acq (commandstats)', unit: 'cmd', better: 'lower' },
    { key: 'idleCmdPerSec', label: 'idle waiters, cmds/s (all)', unit: 'cmd/s', better: 'lower' },
    { key: 'handoffP50', label: 'release to next grant p50', unit: 'ms', better: 'lower' },
    { key: 'handoffP99', label: 'release to next grant p99', unit: 'ms', better: 'lower' },
  ],
  headline: 'acqPerSec',
  async run(context, contender, rep) {
    const args = adapterArgs(context, contender, rep);
    const { ids, workers } = await place(context, contender, WAITERS, (index) => index % PROCESSES);
    const durationMs = context.timing.contendedMs;
    // s2's loop (acquire, hold 0.2 ms busy, release, again) on the semaphore's name.
    const runs = ids.map((id, i) => workers[i]!.run<AcquisitionLog>('s2.loop', { ...args, id, name: NAME } satisfies LoopArgs, deadline(durationMs)));
    await mailFrom(context, 'ready', ids.length, runs);
    const statsBefore = await context.admin.commandStats();
    const startAt = now() + 20;
    const endAt = startAt + durationMs;
    ids.forEach((id, i) => workers[i]!.mail(id, 'go', { startAt, endAt } satisfies Go));
    const logs = await Promise.all(runs);
    const delta = commandDelta(statsBefore, await context.admin.commandStats());
    context.detail('commandstats', delta.byCommand);
    const acquisitions = logs.reduce((sum, log) => sum + log.length / 3, 0);
    const delays = summarize(releaseToGrant(logs));

    context.progress('idle waiters');
    const holder = await place(context, contender, 1, () => 0);
    const holderId = holder.ids[0] as number;
    const holds = contender.id === FLOOR ? 1 : SEMAPHORE_LIMIT;
    const holding = holder.workers[0]!.run('s10.hold', { ...args, id: holderId, holds }, deadline(60_000));
    await mailFrom(context, 'held', 1, [holding]);
    const waiters = await place(context, contender, WAITERS, (index) => index % PROCESSES);
    const waits = waiters.ids.map((id, i) => waiters.workers[i]!.run('s10.wait', { ...args, id }, deadline(60_000)));
    await mailFrom(context, 'waiting', WAITERS, waits);
    await sleep(context.timing.idleSettleMs);
    const idleBefore = await context.admin.commandStats();
    await sleep(context.timing.idleWindowMs);
    const idle = commandDelta(idleBefore, await context.admin.commandStats());
    context.detail('idleCommandstats', idle.byCommand);
    holder.workers[0]!.mail(holderId, 'stop');
    await Promise.all([holding, ...waits]);

    return {
      acqPerSec: acquisitions / (durationMs / 1000),
      cmdPerAcq: acquisitions > 0 ? delta.total / acquisitions : null,
      idleCmdPerSec: idle.total / (context.timing.idleWindowMs / 1000),
      handoffP50: delays.p50,
      handoffP99: delays.p99,
    };
  },
};
