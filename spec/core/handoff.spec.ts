import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { lock$, type LockOptions } from '../../src/index';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { spawnWorker, type WorkerProcess } from '../support/workers/spawn-worker';
import { percentile, subscribeLock, waitFor, within, type Holding } from './holding';

/**
 * The handoff delay: from the holder's unsubscribe to the waiter's Lease,
 * with the waiter already queued. Asserted loosely (timing here is noisy),
 * printed for the record.
 */
const HANDOFFS = 50;

const redis = useRedis();
let timersBefore = 0;
const holdings: Holding[] = [];
const workers: WorkerProcess[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  for (const h of holdings.splice(0)) h.unsubscribe();
  for (const w of workers.splice(0)) {
    w.kill();
    await w.exited;
  }
  await expectQuiescent(timersBefore);
});

function hold(name: string, opts: LockOptions): Holding {
  const h = subscribeLock(lock$(name, opts));
  holdings.push(h);
  return h;
}

/** performance.now() on the clock the worker reports in (ms since the epoch, sub-ms precision). */
const epochNow = (): number => performance.timeOrigin + performance.now();

function report(label: string, delays: number[]): void {
  const p50 = percentile(delays, 50);
  const p99 = percentile(delays, 99);
  console.log(
    `[handoff] ${label}: n=${delays.length} p50=${p50.toFixed(2)} ms p99=${p99.toFixed(2)} ms max=${Math.max(...delays).toFixed(2)} ms`,
  );
  expect(p50).toBeLessThan(50);
}

describe('handoff delay', { timeout: 120_000 }, () => {
  it(`in one process: ${HANDOFFS} handoffs from unsubscribe to the queued waiter`, async () => {
    const opts = { redis: redis.client(), prefix: redis.prefix() };
    let holder = hold('relay', opts);
    await holder.acquired;
    const delays: number[] = [];
    for (let i = 0; i < HANDOFFS; i++) {
      const waiter = hold('relay', opts);
      await waitFor(() => diagnostics.waitQueues === 1, 2_000, 'the waiter queued');
      const released = performance.now();
      holder.unsubscribe();
      await within(waiter.acquired, 2_000, `handoff ${i}`);
      delays.push(waiter.leases[0]!.at - released);
      holder = waiter;
    }
    report('in-process', delays);
  });

  it(`across two processes: ${HANDOFFS} handoffs, half each way`, async () => {
    const prefix = redis.prefix();
    const child = spawnWorker('./handoff.ts', { REDIS_URL: redis.url, PREFIX: prefix, NAME: 'relay' }, { ipc: true });
    workers.push(child);
    await child.message((m) => m.ready === true);
    const command = (cmd: string, round: number): void => void child.child.send({ cmd, round });
    const opts = { redis: redis.url, prefix };
    const toChild: number[] = [];
    const toParent: number[] = [];

    let holder = hold('relay', opts);
    await holder.acquired;
    for (let round = 0; round < HANDOFFS / 2; round++) {
      // Parent -> child: the child queues, the parent lets go.
      command('wait', round);
      await child.message((m) => m.round === round && (m.queued === true || m.error !== undefined));
      const released = epochNow();
      holder.unsubscribe();
      const acquired = await child.message((m) => m.round === round && m.acquired !== undefined);
      toChild.push((acquired.acquired as number) - released);

      // Child -> parent: the parent queues, the child lets go.
      holder = hold('relay', opts);
      await waitFor(() => diagnostics.waitQueues === 1, 2_000, 'the parent queued');
      command('release', round);
      const { released: childReleased } = await child.message((m) => m.round === round && m.released !== undefined);
      await within(holder.acquired, 5_000, `handoff back ${round}`);
      toParent.push(performance.timeOrigin + holder.leases[0]!.at - (childReleased as number));
    }
    command('exit', -1);
    expect(await within(child.exited, 20_000, 'the child to exit')).toEqual({ code: 0, signal: null });
    report('cross-process parent->child', toChild);
    report('cross-process child->parent', toParent);
    report('cross-process both ways', [...toChild, ...toParent]);
  });
});
