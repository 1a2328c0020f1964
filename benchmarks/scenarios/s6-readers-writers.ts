import * as yadl from '../../src/index';
import { namedUrl } from '../contenders/yadl';
import { now, sleep, sleepUntil, spin } from '../support/clock';
import { PARENT } from '../support/ipc';
import { summarize } from '../support/stats';
import { adapterArgs, connectionName, deadline, mailFrom, place, type AdapterArgs } from './common';
import { task, type Scenario, type Task } from './types';

/**
 * yadl has no read/write locks yet. This scenario runs once `src/index.ts`
 * exports RedisReadLock and RedisWriteLock with RedisLock's interface; until
 * then it reports itself skipped rather than measure something else.
 */
interface FacadeLike {
  acquire(): Promise<boolean>;
  release(): Promise<void>;
}
type FacadeClass = new (name: string, options: { redis: string; prefix: string }) => FacadeLike;

function rwClasses(): { read: FacadeClass; write: FacadeClass } | null {
  const exports = yadl as unknown as Record<string, unknown>;
  const read = exports.RedisReadLock;
  const write = exports.RedisWriteLock;
  return typeof read === 'function' && typeof write === 'function' ? { read: read as FacadeClass, write: write as FacadeClass } : null;
}

export const SKIP_REASON = 'skipped: RedisReadLock/RedisWriteLock not available yet';
const NAME = 'rw';
const READERS_PER_PROCESS = 4;
const HOLD_MS = 0.2;
const WRITER_EVERY_MS = 50;

interface RwArgs extends AdapterArgs {
  id: number;
  /** Readers take read locks (false: the exclusive RedisLock, the baseline). */
  shared: boolean;
  role: 'readers' | 'writer';
  count: number;
}

interface Go {
  startAt: number;
  endAt: number;
}

/** Readers loop (acquire read, hold 0.2 ms, release); the writer takes the write lock every 50 ms. Returns counts or waits. */
const rw = task<RwArgs>(async (args, context): Promise<number[]> => {
  const classes = rwClasses();
  if (classes === null) throw new Error(SKIP_REASON);
  const redis = namedUrl(args.url, connectionName(args.contender));
  const exclusive = yadl.RedisLock as FacadeClass;
  const Lock = !args.shared ? exclusive : args.role === 'readers' ? classes.read : classes.write;
  context.send(PARENT, 'ready');
  const { startAt, endAt } = await context.receive<Go>(args.id, 'go', 60_000);
  await sleepUntil(startAt);
  const results: number[] = [];
  const one = async (): Promise<void> => {
    let count = 0;
    while (now() < endAt) {
      const lock = new Lock(NAME, { redis, prefix: args.prefix });
      const waitStart = now();
      await lock.acquire();
      if (args.role === 'writer') results.push(now() - waitStart);
      spin(HOLD_MS);
      await lock.release();
      count += 1;
      if (args.role === 'writer') await sleep(WRITER_EVERY_MS);
    }
    if (args.role === 'readers') results.push(count);
  };
  await Promise.all(Array.from({ length: args.count }, one));
  return results;
});

export const readersWritersTasks: Record<string, Task> = { 's6.rw': rw };

export const readersWriters: Scenario = {
  id: 's6',
  title: 'Readers and writers',
  description:
    `3 processes with ${READERS_PER_PROCESS} reader loops each (read lock, hold ${HOLD_MS} ms, release) and one writer ` +
    `process taking the write lock every ${WRITER_EVERY_MS} ms: reader acquisitions/s and the writer's wait. ` +
    'Baseline: the same workload with every lock an exclusive RedisLock.',
  processes: 4,
  contenders: ['yadl-rw', 'yadl-facade'],
  metrics: [
    { key: 'readsPerSec', label: 'reader acquisitions/s', unit: 'acq/s', better: 'higher' },
    { key: 'writerWaitP50', label: 'writer wait p50', unit: 'ms', better: 'lower' },
    { key: 'writerWaitP99', label: 'writer wait p99', unit: 'ms', better: 'lower' },
  ],
  headline: 'writerWaitP50',
  unavailable: () => Promise.resolve(rwClasses() === null ? SKIP_REASON : null),
  async run(context, contender, rep) {
    const args = adapterArgs(context, contender, rep);
    const durationMs = context.timing.readersWritersMs;
    const { ids, workers } = await place(context, contender, 4, (index) => index);
    const runs = workers.map((worker, i) =>
      worker.run<number[]>(
        's6.rw',
        { ...args, id: ids[i], shared: contender.id === 'yadl-rw', role: i === 0 ? 'writer' : 'readers', count: i === 0 ? 1 : READERS_PER_PROCESS },
        deadline(durationMs),
      ),
    );
    await mailFrom(context, 'ready', workers.length, runs);
    const startAt = now() + 20;
    workers.forEach((worker, i) => worker.mail(ids[i] ?? 0, 'go', { startAt, endAt: startAt + durationMs } satisfies Go));
    const [writerWaits = [], ...readerCounts] = await Promise.all(runs);
    const waits = summarize(writerWaits);
    const reads = readerCounts.flat().reduce((sum, n) => sum + n, 0);
    return { readsPerSec: reads / (durationMs / 1000), writerWaitP50: waits.p50, writerWaitP99: waits.p99 };
  },
};
