import type { Held } from '../contenders';
import { now, sleep, sleepUntil } from '../support/clock';
import { PARENT } from '../support/ipc';
import { summarize } from '../support/stats';
import { adapterArgs, deadline, mailFrom, openAdapter, place, warmUp, type AdapterArgs } from './common';
import { analyzeHandoffs, type AcquisitionLog } from './handoffs';
import { task, type Scenario, type Task } from './types';

const NAME = 'ping-pong';
/** The holder keeps the lock 2 to 10 ms after the other is waiting: pollers cannot move in step with it. */
const HOLD_MIN_MS = 2;
const HOLD_SPREAD_MS = 8;
const MAIL_TIMEOUT_MS = 30_000;

interface PingPongArgs extends AdapterArgs {
  id: number;
  peer: number;
  /** Takes the lock first. */
  first: boolean;
}

interface Go {
  startAt: number;
  endAt: number;
}

/**
 * Two logical workers pass one lock back and forth. The holder releases only
 * once the other says it is waiting (its acquire was called), and waits to
 * acquire again until the other says it holds the lock, so every acquisition
 * after the first is a handoff to a waiting process. The coordination mail
 * goes through the orchestrator, outside of the measured interval.
 */
const pingPong = task<PingPongArgs>(async (args, context): Promise<AcquisitionLog> => {
  const { id, peer } = args;
  const adapter = await openAdapter(args);
  const log: AcquisitionLog = [];
  try {
    await warmUp(adapter);
    context.send(PARENT, 'ready');
    const { startAt, endAt } = await context.receive<Go>(id, 'go', MAIL_TIMEOUT_MS);
    await sleepUntil(startAt);
    const wait = async (): Promise<Held> => {
      const waitStart = now();
      const acquiring = adapter.acquire(NAME);
      context.send(peer, 'waiting');
      const held = await acquiring;
      log.push(waitStart, now(), Number.NaN);
      context.send(peer, 'acquired');
      return held;
    };
    if (!args.first) await context.receive(id, 'acquired', MAIL_TIMEOUT_MS);
    let held = await wait();
    for (;;) {
      if (now() >= endAt) {
        log[log.length - 1] = now();
        await held.release();
        break;
      }
      await context.receive(id, 'waiting', MAIL_TIMEOUT_MS);
      await sleep(HOLD_MIN_MS + Math.random() * HOLD_SPREAD_MS);
      log[log.length - 1] = now();
      await held.release();
      if (now() >= endAt) break;
      await context.receive(id, 'acquired', MAIL_TIMEOUT_MS);
      held = await wait();
    }
    return log;
  } finally {
    await adapter.close();
  }
});

export const pingPongTasks: Record<string, Task> = { 's2b.pingPong': pingPong };

export const pingPongScenario: Scenario = {
  id: 's2b',
  title: 'Ping-pong handoff (2 processes)',
  description:
    'Two processes pass one lock back and forth: the holder releases 2 to 10 ms (random) after the other process has ' +
    'called acquire, and calls acquire again only once the other holds the lock. The handoff delay runs from the ' +
    'holder\'s release call to the waiter\'s acquisition, both stamped with performance.timeOrigin + performance.now(). ' +
    'The purest measure of waking a waiter. async-mutex runs both in one process.',
  processes: 2,
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
    { key: 'handoffP50', label: 'handoff p50', unit: 'ms', better: 'lower' },
    { key: 'handoffP99', label: 'handoff p99', unit: 'ms', better: 'lower' },
    { key: 'handoffs', label: 'handoffs', unit: 'count' },
  ],
  headline: 'handoffP50',
  logChart: true,
  async run(context, contender, rep) {
    const { ids, workers } = await place(context, contender, 2, (index) => index);
    const [a, b] = ids as [number, number];
    const args = adapterArgs(context, contender, rep);
    const durationMs = context.timing.pingPongMs;
    const runs = [
      workers[0]!.run<AcquisitionLog>('s2b.pingPong', { ...args, id: a, peer: b, first: true }, deadline(durationMs)),
      workers[1]!.run<AcquisitionLog>('s2b.pingPong', { ...args, id: b, peer: a, first: false }, deadline(durationMs)),
    ];
    await mailFrom(context, 'ready', ids.length, runs);
    const startAt = now() + 20;
    const endAt = startAt + durationMs;
    ids.forEach((id, i) => workers[i]!.mail(id, 'go', { startAt, endAt } satisfies Go));
    const logs = await Promise.all(runs);
    const delays = summarize(analyzeHandoffs(logs, endAt).delays);
    return { handoffP50: delays.p50, handoffP99: delays.p99, handoffs: delays.n };
  },
};
