import { contender as contenderSpec } from '../contenders';
import { now, sleep } from '../support/clock';
import { PARENT } from '../support/ipc';
import { summarize } from '../support/stats';
import { adapterArgs, deadline, mailFrom, openAdapter, place, warmUp, type AdapterArgs } from './common';
import { task, type Scenario, type Task } from './types';

/** Between the holder's acquisitions, so that the holds end at different times. */
const GAP_MS = 40;

interface ExpiryArgs extends AdapterArgs {
  names: string[];
}

/** Takes every name, says so, then keeps them (renewing, where the library renews) until it is killed. */
const holder = task<ExpiryArgs>(async (args, context): Promise<never> => {
  const adapter = await openAdapter(args);
  await warmUp(adapter);
  for (const name of args.names) {
    await adapter.acquire(name);
    await sleep(GAP_MS);
  }
  context.send(PARENT, 'held');
  return new Promise<never>(() => undefined);
});

/** Waits for every name at once; returns when each was acquired. */
const waiters = task<ExpiryArgs>(async (args, context): Promise<number[]> => {
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

export const expiryTasks: Record<string, Task> = { 's4.holder': holder, 's4.waiters': waiters };

export const expiry: Scenario = {
  id: 's4',
  title: 'Expiry handoff (holder killed)',
  description:
    'A fresh process takes several names with a 1000 ms hold (yadl: lock$ with a renewed lease of 1000 ms; redlock: ' +
    'duration 1000 ms; redis-semaphore: lockTimeout 1000 ms; floor: PX 1000) and is killed with SIGKILL 50 to 250 ms ' +
    'after a waiter process started waiting for every name. A hold\'s end is read right after the kill from its key\'s ' +
    'PTTL (mid-point of the round trip); the delay runs from there to the waiter\'s acquisition. Redis itself only ' +
    'expires a key when it is touched or its active expiry cycle finds it.',
  processes: 2,
  contenders: ['yadl-lock', 'redlock', 'redlock-fast', 'sesame', 'sesame-fast', 'redis-semaphore', 'redis-semaphore-fast', 'raw-notified'],
  metrics: [
    { key: 'p50', label: 'lease end to acquisition p50', unit: 'ms', better: 'lower' },
    { key: 'max', label: 'max', unit: 'ms', better: 'lower' },
    { key: 'samples', label: 'samples', unit: 'count' },
  ],
  headline: 'p50',
  logChart: true,
  async run(context, contender, rep) {
    const spec = contenderSpec(contender.id);
    if (spec.key === undefined) throw new Error(`${contender.id} does not say which key its hold is`);
    const { expiryNames, expiryLeaseMs } = context.timing;
    const args = adapterArgs(context, contender, rep, expiryLeaseMs);
    const names = Array.from({ length: expiryNames }, (_, i) => `expiry-${i}`);
    const keys = names.map((name) => spec.key?.(args.prefix, name) ?? name);
    const budget = deadline(expiryLeaseMs * 2);

    // The waiter's process first: spawning it must not eat into the holds.
    const { workers } = await place(context, contender, 1, () => 1);
    const waiter = workers[0];
    if (waiter === undefined) throw new Error('no waiter process');
    const holderProcess = await context.pool.spawnFresh();
    try {
      const holding = holderProcess.run<never>('s4.holder', { ...args, names }, budget);
      holding.catch(() => undefined);
      await mailFrom(context, 'held', 1, [holding]);
      const before = await context.admin.holdEnds(keys);

      const waiting = waiter.run<number[]>('s4.waiters', { ...args, names }, budget);
      await mailFrom(context, 'waiting', 1, [waiting]);
      await sleep(50 + Math.random() * 200);

      holderProcess.kill('SIGKILL');
      await holderProcess.exited;
      const after = await context.admin.holdEnds(keys);
      const acquiredAt = await waiting;
      // After the kill nothing renews a hold; a key already gone ended as read before.
      const delays = acquiredAt.map((at, i) => at - (after[i] ?? before[i] ?? Number.NaN)).filter(Number.isFinite);
      const summary = summarize(delays);
      context.detail('delaysMs', delays);
      return { p50: summary.p50, max: summary.max, samples: summary.n };
    } finally {
      await holderProcess.stop();
    }
  },
};
