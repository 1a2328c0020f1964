import { contender as contenderSpec } from '../contenders';
import { now, sleep } from '../support/clock';
import { PARENT } from '../support/ipc';
import { summarize } from '../support/stats';
import { adapterArgs, deadline, mailFrom, openAdapter, place, warmUp, type AdapterArgs } from './common';
import { ticketsIssued } from './s3-idle-waiters';
import { task, type Scenario, type Task } from './types';

/** Between the holder's releases, so that each handoff has the waiting process to itself. */
const RELEASE_GAP_MS = 20;
/** A non-fair contender has no line to look at: its waiters get this long to make their first attempts. */
const SETTLE_MS = 100;

interface NamesArgs extends AdapterArgs {
  id: number;
  names: string[];
}

/** Takes every name, says so, and releases them one by one when told; returns each release's time. */
const holder = task<NamesArgs>(async (args, context): Promise<number[]> => {
  const adapter = await openAdapter(args);
  try {
    await warmUp(adapter);
    const holds = [];
    for (const name of args.names) holds.push(await adapter.acquire(name));
    context.send(PARENT, 'held');
    await context.receive(args.id, 'release', 120_000);
    const releasedAt: number[] = [];
    for (const held of holds) {
      releasedAt.push(now());
      await held.release();
      await sleep(RELEASE_GAP_MS);
    }
    return releasedAt;
  } finally {
    await adapter.close();
  }
});

/** Waits for every name at once and says so; the doomed head never gets further (it is killed). */
const waiters = task<NamesArgs>(async (args, context): Promise<number[]> => {
  const adapter = await openAdapter(args);
  try {
    await warmUp(adapter);
    const acquiring = args.names.map(async (name) => {
      const held = await adapter.acquire(name);
      const acquiredAt = now();
      await held.release();
      return acquiredAt;
    });
    context.send(PARENT, 'waiting');
    return await Promise.all(acquiring);
  } finally {
    await adapter.close();
  }
});

export const deadHeadTasks: Record<string, Task> = { 's9.holder': holder, 's9.waiters': waiters };

export const deadHead: Scenario = {
  id: 's9',
  title: 'Fair line: head waiter killed',
  description:
    'One process holds several names; a fresh process waits for every name first (the head of each fair line), then ' +
    'another process waits for them too (second in line). The head\'s process is killed with SIGKILL, then the holder ' +
    'releases the names one by one, 20 ms apart. A fair release grants the lock to the dead head, which never confirms ' +
    'it: the second waiter takes it once the grant\'s handoffGrace has passed. The delay runs from the holder\'s release ' +
    'call to the second waiter\'s acquisition (shared clock). Every acquisition here uses handoffGrace 500 ms. The plain ' +
    'yadl lock$ (no line: a dead waiter costs it nothing) is the reference.',
  processes: 2,
  contenders: ['yadl-lock-fair', 'yadl-facade-fair', 'yadl-lock'],
  metrics: [
    { key: 'p50', label: 'release to next acquisition p50', unit: 'ms', better: 'lower' },
    { key: 'max', label: 'max', unit: 'ms', better: 'lower' },
    { key: 'samples', label: 'samples', unit: 'count' },
    { key: 'graceMs', label: 'handoffGrace', unit: 'ms' },
  ],
  headline: 'p50',
  /** The grace (hundreds of ms) beside the plain lock's handoff (a few ms). */
  logChart: true,
  async run(context, contender, rep) {
    const spec = contenderSpec(contender.id);
    const { deadHeadNames, handoffGraceMs } = context.timing;
    const args = { ...adapterArgs(context, contender, rep), handoffGraceMs };
    const names = Array.from({ length: deadHeadNames }, (_, i) => `head-${i}`);
    const keys = names.map((name) => spec.key?.(args.prefix, name) ?? name);
    const budget = deadline(handoffGraceMs * 2 + RELEASE_GAP_MS * names.length);
    // Tickets are counted in the line only for a fair contender.
    const inLine = async (count: number): Promise<void> => {
      if (spec.fair === true) for (const key of keys) await ticketsIssued(context, key, count);
      else await sleep(SETTLE_MS);
    };

    const { ids, workers } = await place(context, contender, 2, (index) => index);
    const [holderId, nextId] = ids as [number, number];
    const [holderProcess, nextProcess] = workers as [(typeof workers)[0], (typeof workers)[0]];
    const head = await context.pool.spawnFresh();
    try {
      const holding = holderProcess.run<number[]>('s9.holder', { ...args, id: holderId, names }, budget);
      await mailFrom(context, 'held', 1, [holding]);

      const doomed = head.run<number[]>('s9.waiters', { ...args, id: 0, names }, budget);
      doomed.catch(() => undefined);
      await mailFrom(context, 'waiting', 1, [doomed]);
      await inLine(1);
      const next = nextProcess.run<number[]>('s9.waiters', { ...args, id: nextId, names }, budget);
      await mailFrom(context, 'waiting', 1, [next, holding]);
      await inLine(2);

      head.kill('SIGKILL');
      await head.exited;
      holderProcess.mail(holderId, 'release');
      const releasedAt = await holding;
      const acquiredAt = await next;
      const delays = acquiredAt.map((at, i) => at - (releasedAt[i] ?? Number.NaN)).filter(Number.isFinite);
      const summary = summarize(delays);
      context.detail('delaysMs', delays);
      return { p50: summary.p50, max: summary.max, samples: summary.n, graceMs: handoffGraceMs };
    } finally {
      await head.stop();
    }
  },
};
