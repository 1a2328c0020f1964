import { now, sleep } from '../support/clock';
import { PARENT } from '../support/ipc';
import { commandDelta } from '../support/redis-admin';
import { adapterArgs, commandsSentBy, deadline, mailFrom, openAdapter, place, warmUp, type AdapterArgs } from './common';
import { task, type Scenario, type Task } from './types';

const NAME = 'idle';
/** Waiters live in pool workers 1..3; the holder alone in worker 0. */
const WAITER_PROCESSES = 3;

interface HolderArgs extends AdapterArgs {
  id: number;
}

/** Takes the lock, says so, and releases it when told; returns the release time. */
const holder = task<HolderArgs>(async (args, context): Promise<number> => {
  const adapter = await openAdapter(args);
  try {
    await warmUp(adapter);
    const held = await adapter.acquire(NAME);
    context.send(PARENT, 'held');
    await context.receive(args.id, 'release', 120_000);
    const releasedAt = now();
    await held.release();
    return releasedAt;
  } finally {
    await adapter.close();
  }
});

interface WaitersArgs extends AdapterArgs {
  count: number;
}

/** `count` waiters of one process; each releases as soon as it acquired. Returns the acquisition times. */
const waiters = task<WaitersArgs>(async (args, context): Promise<number[]> => {
  const adapter = await openAdapter(args);
  try {
    await warmUp(adapter);
    const acquiredAt: number[] = [];
    const all = Array.from({ length: args.count }, async () => {
      const held = await adapter.acquire(NAME);
      acquiredAt.push(now());
      await held.release();
    });
    context.send(PARENT, 'waiting');
    await Promise.all(all);
    return acquiredAt;
  } finally {
    await adapter.close();
  }
});

export const idleWaitersTasks: Record<string, Task> = { 's3.holder': holder, 's3.waiters': waiters };

export const idleWaiters: Scenario = {
  id: 's3',
  title: 'Idle waiters (50 waiting on a held lock)',
  description:
    'One process holds a lock; 50 waiters in 3 other processes wait for it. After a settle time, the Redis commands ' +
    'processed during a fixed window (INFO commandstats, including commands run inside scripts, without the harness\'s ' +
    'INFO calls) and the commands the waiters\' ioredis clients wrote are counted. Then the holder releases; each waiter ' +
    'releases as soon as it acquired. First: release to the first acquisition; all: release to the 50th acquisition. ' +
    'async-mutex runs the holder and the waiters in one process.',
  processes: 4,
  contenders: [
    'yadl-lock',
    'yadl-facade',
    'redlock',
    'redlock-fast',
    'sesame',
    'sesame-fast',
    'redis-semaphore',
    'redis-semaphore-fast',
    'raw-notified',
    'async-mutex',
  ],
  metrics: [
    { key: 'cmdPerSec', label: 'Redis cmds/s while waiting (commandstats)', unit: 'cmd/s', better: 'lower' },
    { key: 'sentPerSec', label: 'cmds sent/s while waiting', unit: 'cmd/s', better: 'lower' },
    { key: 'firstMs', label: 'release to first acquisition', unit: 'ms', better: 'lower' },
    { key: 'allMs', label: 'release to all 50 served', unit: 'ms', better: 'lower' },
  ],
  headline: 'allMs',
  logChart: true,
  async run(context, contender, rep) {
    const { idleWaiters: total, idleSettleMs, idleWindowMs } = context.timing;
    const args = adapterArgs(context, contender, rep);
    const holderPlace = await place(context, contender, 1, () => 0);
    const holderId = holderPlace.ids[0] ?? 0;
    const holderProcess = holderPlace.workers[0];
    if (holderProcess === undefined) throw new Error('no holder process');
    const budget = deadline(idleSettleMs + idleWindowMs);
    const holding = holderProcess.run<number>('s3.holder', { ...args, id: holderId }, budget);
    await mailFrom(context, 'held', 1, [holding]);

    const groups = contender.inProcess ? 1 : WAITER_PROCESSES;
    const { workers } = await place(context, contender, groups, (index) => 1 + index);
    const counts = workers.map((_, i) => Math.floor(total / groups) + (i < total % groups ? 1 : 0));
    const waiting = workers.map((worker, i) => worker.run<number[]>('s3.waiters', { ...args, count: counts[i] }, budget));
    await mailFrom(context, 'waiting', groups, [...waiting, holding]);
    await sleep(idleSettleMs);

    const processes = [...new Set([...workers, holderProcess])];
    const sentBefore = await commandsSentBy(processes);
    const statsBefore = await context.admin.commandStats();
    const windowStart = now();
    await sleep(idleWindowMs);
    const statsAfter = await context.admin.commandStats();
    const windowS = (now() - windowStart) / 1000;
    const sent = (await commandsSentBy(processes)) - sentBefore;

    holderProcess.mail(holderId, 'release');
    const releasedAt = await holding;
    const acquired = (await Promise.all(waiting)).flat().sort((a, b) => a - b);
    if (acquired.length !== total) throw new Error(`${acquired.length} of ${total} waiters acquired`);
    const delta = commandDelta(statsBefore, statsAfter);
    context.detail('windowS', windowS);
    context.detail('commandstats', delta.byCommand);
    context.detail('acquiredAfterReleaseMs', acquired.map((at) => at - releasedAt));
    return {
      cmdPerSec: delta.total / windowS,
      sentPerSec: sent / windowS,
      firstMs: (acquired[0] ?? Number.NaN) - releasedAt,
      allMs: (acquired.at(-1) ?? Number.NaN) - releasedAt,
    };
  },
};
