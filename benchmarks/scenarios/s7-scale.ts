import type { Held } from '../contenders';
import { sleep } from '../support/clock';
import { commandsSent } from '../support/command-counter';
import { PARENT } from '../support/ipc';
import { adapterArgs, connectionName, deadline, freshId, mailFrom, openAdapter, type AdapterArgs } from './common';
import { task, type Scenario, type Task } from './types';

const DRAIN_TIMEOUT_MS = 60_000;
/** Settled: no command written for this long (every waiter has made its first attempt and sleeps). */
const QUIET_MS = 300;
const SETTLE_LIMIT_MS = 30_000;

interface ScaleArgs extends AdapterArgs {
  id: number;
  waiters: number;
  names: number;
  settleMs: number;
}

interface Waiting {
  bytesPerWaiter: number;
  gc: boolean;
  settledMs: number;
}

interface ScaleResult {
  drainMs: number | null;
}

function collect(): boolean {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) return false;
  gc();
  gc();
  return true;
}

/** Waits at least `minMs`, then until the process has written no Redis command for QUIET_MS. */
async function settle(minMs: number): Promise<number> {
  const start = performance.now();
  await sleep(minMs);
  let last = commandsSent();
  let quietSince = performance.now();
  while (performance.now() - start < SETTLE_LIMIT_MS) {
    await sleep(50);
    const sent = commandsSent();
    if (sent !== last) {
      last = sent;
      quietSince = performance.now();
    } else if (performance.now() - quietSince >= QUIET_MS) {
      break;
    }
  }
  return performance.now() - start;
}

/**
 * Holds every name, then starts `waiters` acquisitions spread over them, each
 * the leanest waiter of its library (LockAdapter.enqueue), and measures the
 * heap they take after GC. Once the orchestrator has counted the connections,
 * releases the holds and lets every waiter through (each releases at once),
 * timing the drain.
 */
const scale = task<ScaleArgs>(async (args, context): Promise<ScaleResult> => {
  const adapter = await openAdapter(args);
  const names = Array.from({ length: args.names }, (_, i) => `scale-${i}`);
  try {
    const holds: Held[] = [];
    for (const name of names) holds.push(await adapter.acquire(name));
    let done = 0;
    let drained = (): void => undefined;
    const allDone = new Promise<void>((resolve) => (drained = resolve));
    const onHeld = (held: Held): void => {
      void held.release().then(() => {
        done += 1;
        if (done === args.waiters) drained();
      });
    };
    const gc = collect();
    const heapBefore = process.memoryUsage().heapUsed;
    for (let i = 0; i < args.waiters; i++) {
      const name = names[i % names.length] ?? 'scale-0';
      if (adapter.enqueue !== undefined) adapter.enqueue(name, onHeld);
      else void adapter.acquire(name).then(onHeld);
    }
    const settledMs = await settle(args.settleMs);
    collect();
    const bytesPerWaiter = (process.memoryUsage().heapUsed - heapBefore) / args.waiters;
    context.send(PARENT, 'waiting', { bytesPerWaiter, gc, settledMs } satisfies Waiting);
    await context.receive(args.id, 'counted', 60_000);
    const drainStart = performance.now();
    for (const held of holds) await held.release();
    const ok = await Promise.race([allDone.then(() => true), sleep(DRAIN_TIMEOUT_MS).then(() => false)]);
    if (!ok) console.error(`[bench s7] ${args.contender}: ${done} of ${args.waiters} waiters served within ${DRAIN_TIMEOUT_MS} ms`);
    return { drainMs: ok ? performance.now() - drainStart : null };
  } finally {
    await adapter.close();
  }
});

export const scaleTasks: Record<string, Task> = { 's7.scale': scale };

export const scaleScenario: Scenario = {
  id: 's7',
  title: 'Scale of waiting (10 000 waiters in one process)',
  description:
    'A fresh process (node --expose-gc) holds 5 names, then starts 10 000 acquisitions spread over them, each the leanest ' +
    'waiter of its API (lock$: a bare subscription; RedisLock: an instance and its acquire promise; async-mutex: its ' +
    'acquire promise). Once the process has written no Redis command for 300 ms (every first attempt answered; at least ' +
    'the settle time): heap used after GC per waiter, and the connections the process has open (CLIENT LIST, by ' +
    'connection name). Then the holds are released and every waiter goes through, releasing at once: drain time. The ' +
    'polling peers are left out: 10 000 pollers would only measure the machine.',
  contenders: ['yadl-lock', 'yadl-facade', 'async-mutex'],
  processes: 0,
  metrics: [
    { key: 'connections', label: 'Redis connections', unit: 'conn', better: 'lower' },
    { key: 'bytesPerWaiter', label: 'heap per waiter', unit: 'B', better: 'lower' },
    { key: 'drainMs', label: 'all 10 000 served', unit: 'ms', better: 'lower' },
    { key: 'settledMs', label: 'time to settle', unit: 'ms' },
  ],
  headline: 'bytesPerWaiter',
  async run(context, contender, rep) {
    const { scaleWaiters: waiters, scaleNames: names, scaleSettleMs: settleMs } = context.timing;
    const worker = await context.pool.spawnFresh({ exposeGc: true });
    try {
      const id = freshId();
      context.pool.assign(id, worker);
      const args = { ...adapterArgs(context, contender, rep), id, waiters, names, settleMs } satisfies ScaleArgs;
      const running = worker.run<ScaleResult>('s7.scale', args, deadline(SETTLE_LIMIT_MS + DRAIN_TIMEOUT_MS));
      const [waiting] = (await mailFrom(context, 'waiting', 1, [running])) as [Waiting];
      if (!waiting.gc) context.progress('warning: no --expose-gc, heap figures include garbage');
      const connections = (await context.admin.clientNames()).filter((name) => name === connectionName(contender.id, worker.pid)).length;
      worker.mail(id, 'counted');
      const result = await running;
      return { connections, bytesPerWaiter: waiting.bytesPerWaiter, drainMs: result.drainMs, settledMs: waiting.settledMs };
    } finally {
      await worker.stop();
    }
  },
};
