import type { ContenderSpec } from '../contenders';
import { now, sleep } from '../support/clock';
import { PARENT } from '../support/ipc';
import { commandDelta } from '../support/redis-admin';
import type { WorkerProcess } from '../support/pool';
import { adapterArgs, commandsSentBy, deadline, mailFrom, openAdapter, place, warmUp, type AdapterArgs } from './common';
import { task, type Scenario, type ScenarioContext, type Task } from './types';

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

interface InOrderArgs extends AdapterArgs {
  id: number;
  count: number;
}

/** One waiter's turn: when it was started (0 = first), when it acquired, and its hold's fence. */
export interface Turn {
  arrival: number;
  acquiredAt: number;
  fence: number | null;
}

/**
 * Fair contenders: `count` waiters of one process, each started when the
 * orchestrator says (mail 'start' with its arrival number), so that the
 * arrival order across processes is known. Each releases as soon as it acquired.
 */
const waitersInOrder = task<InOrderArgs>(async (args, context): Promise<Turn[]> => {
  const adapter = await openAdapter(args);
  try {
    await warmUp(adapter);
    context.send(PARENT, 'ready');
    const turns: Promise<Turn>[] = [];
    for (let i = 0; i < args.count; i++) {
      const { arrival } = await context.receive<{ arrival: number }>(args.id, 'start', 120_000);
      turns.push(
        (async (): Promise<Turn> => {
          const held = await adapter.acquire(NAME);
          const acquiredAt = now();
          await held.release();
          return { arrival, acquiredAt, fence: held.fence ?? null };
        })(),
      );
    }
    return await Promise.all(turns);
  } finally {
    await adapter.close();
  }
});

/**
 * How many waiters were served at another place than their arrival: the
 * turns sorted by fence (the order Redis granted the holds in), or by
 * acquisition time where a turn has no fence.
 */
export function servedOutOfOrder(turns: readonly Turn[]): number {
  const byFence = turns.every((t) => t.fence !== null);
  const served = [...turns].sort((a, b) => (byFence ? (a.fence ?? 0) - (b.fence ?? 0) : a.acquiredAt - b.acquiredAt));
  const arrivals = [...turns].map((t) => t.arrival).sort((a, b) => a - b);
  return served.filter((turn, place) => turn.arrival !== arrivals[place]).length;
}

/** How long to wait for a fair waiter's ticket to show in the line. */
const TICKET_TIMEOUT_MS = 10_000;

/**
 * Waits until the lock's fair line has issued `count` tickets: the counter
 * `ts` of its state hash (see src/redis/scripts/includes/read-holders.lua),
 * read on the harness's own connection, before anything is measured.
 */
export async function ticketsIssued(context: ScenarioContext, key: string, count: number): Promise<void> {
  const until = performance.now() + TICKET_TIMEOUT_MS;
  for (;;) {
    const issued = Number((await context.admin.client.hget(key, 'ts')) ?? 0);
    if (issued >= count) return;
    if (performance.now() > until) throw new Error(`the fair line of ${key} has ${issued} tickets, not ${count}, after ${TICKET_TIMEOUT_MS} ms`);
    await sleep(1);
  }
}

/**
 * Starts `total` fair waiters one at a time, round-robin over the processes
 * of `placement`, each once the previous one's ticket is in the line: so the
 * arrival order is known, and every handoff goes to another process.
 */
async function startInOrder(
  context: ScenarioContext,
  contender: ContenderSpec,
  args: AdapterArgs,
  placement: { ids: readonly number[]; workers: readonly WorkerProcess[] },
  total: number,
  budget: number,
  holding: Promise<number>,
): Promise<Promise<Turn[]>[]> {
  const key = contender.key?.(args.prefix, NAME);
  if (key === undefined) throw new Error(`${contender.id} does not say which key its lock is`);
  const groups = placement.workers.length;
  const runs = placement.workers.map((worker, i) =>
    worker.run<Turn[]>(
      's3.waitersInOrder',
      { ...args, id: placement.ids[i], count: Math.floor(total / groups) + (i < total % groups ? 1 : 0) },
      budget,
    ),
  );
  await mailFrom(context, 'ready', groups, [...runs, holding]);
  for (let arrival = 0; arrival < total; arrival++) {
    const i = arrival % groups;
    placement.workers[i]?.mail(placement.ids[i] ?? 0, 'start', { arrival });
    await ticketsIssued(context, key, arrival + 1);
  }
  return runs;
}

export const idleWaitersTasks: Record<string, Task> = { 's3.holder': holder, 's3.waiters': waiters, 's3.waitersInOrder': waitersInOrder };

export const idleWaiters: Scenario = {
  id: 's3',
  title: 'Idle waiters (50 waiting on a held lock)',
  description:
    'One process holds a lock; 50 waiters in 3 other processes wait for it. After a settle time, the Redis commands ' +
    'processed during a fixed window (INFO commandstats, including commands run inside scripts, without the harness\'s ' +
    'INFO calls) and the commands the waiters\' ioredis clients wrote are counted. Then the holder releases; each waiter ' +
    'releases as soon as it acquired. First: release to the first acquisition; all: release to the 50th (last) acquisition. ' +
    'async-mutex runs the holder and the waiters in one process. The fair contenders\' waiters are started one at a time, ' +
    'round-robin over the 3 processes, each once the previous one\'s ticket is in the line (so every one of the 50 handoffs ' +
    'goes to another process, the worst case for the time to serve them all); the others\' all at once. Out of order: ' +
    'waiters of a fair contender served (in fence order) at another place than their arrival.',
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
    'async-mutex',
  ],
  metrics: [
    { key: 'cmdPerSec', label: 'Redis cmds/s while waiting (commandstats)', unit: 'cmd/s', better: 'lower' },
    { key: 'sentPerSec', label: 'cmds sent/s while waiting', unit: 'cmd/s', better: 'lower' },
    { key: 'firstMs', label: 'release to first acquisition', unit: 'ms', better: 'lower' },
    { key: 'allMs', label: 'release to all 50 served', unit: 'ms', better: 'lower' },
    { key: 'outOfOrder', label: 'out of order', unit: 'count', better: 'lower' },
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
    const placement = await place(context, contender, groups, (index) => 1 + index);
    const { workers } = placement;
    let waiting: Promise<number[]>[];
    let inOrder: Promise<Turn[]>[] = [];
    if (contender.fair === true) {
      inOrder = await startInOrder(context, contender, args, placement, total, budget, holding);
      waiting = inOrder.map((run) => run.then((turns) => turns.map((t) => t.acquiredAt)));
    } else {
      const counts = workers.map((_, i) => Math.floor(total / groups) + (i < total % groups ? 1 : 0));
      waiting = workers.map((worker, i) => worker.run<number[]>('s3.waiters', { ...args, count: counts[i] }, budget));
      await mailFrom(context, 'waiting', groups, [...waiting, holding]);
    }
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
    let outOfOrder: number | null = null;
    if (contender.fair === true) {
      const turns = (await Promise.all(inOrder)).flat();
      outOfOrder = servedOutOfOrder(turns);
      // Arrival numbers in the order the holds were granted (fence order).
      context.detail(
        'servedArrivals',
        [...turns].sort((a, b) => (a.fence ?? 0) - (b.fence ?? 0)).map((t) => t.arrival),
      );
    }
    return {
      cmdPerSec: delta.total / windowS,
      sentPerSec: sent / windowS,
      firstMs: (acquired[0] ?? Number.NaN) - releasedAt,
      allMs: (acquired.at(-1) ?? Number.NaN) - releasedAt,
      outOfOrder,
    };
  },
};
