import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { lock$ } from '../../src/index';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { spawnWorker, type WorkerProcess } from '../support/workers/spawn-worker';
import { subscribeLock, within, type Holding } from './holding';

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

function worker(script: string, env: Record<string, string>): WorkerProcess {
  const w = spawnWorker(script, env);
  workers.push(w);
  return w;
}

// Child processes start tsx: slow on a loaded machine, hence the long timeouts.
describe('across processes', { timeout: 120_000 }, () => {
  const PROCESSES = 4;
  const ITERATIONS = 25;

  it(`excludes ${PROCESSES} processes from a read-modify-write ${ITERATIONS} times each, with fences in hold order`, async () => {
    const prefix = redis.prefix();
    const env = { REDIS_URL: redis.url, PREFIX: prefix, NAME: 'counter', ITERATIONS: String(ITERATIONS) };
    const running = Array.from({ length: PROCESSES }, () => worker('./counter.ts', env));
    const results = await within(
      Promise.all(running.map((w) => w.message((m) => m.done === true, 90_000))),
      95_000,
      'the workers',
    );
    const exits = await within(Promise.all(running.map((w) => w.exited)), 20_000, 'the workers to exit by themselves');
    expect(exits).toEqual(running.map(() => ({ code: 0, signal: null })));

    expect(await redis.client().get(`${prefix}:counter`)).toBe(String(PROCESSES * ITERATIONS));

    // Each critical section read the count its predecessor wrote: ordering them
    // by what they read orders them in time. Fences must increase in that order.
    const sections = results.flatMap((r) => r.sections as { read: number; fence: number }[]);
    sections.sort((a, b) => a.read - b.read);
    expect(sections.map((s) => s.read)).toEqual(Array.from({ length: PROCESSES * ITERATIONS }, (_, i) => i));
    for (let i = 1; i < sections.length; i++) expect(sections[i]!.fence).toBeGreaterThan(sections[i - 1]!.fence);
  });

  it('a holder killed with SIGKILL frees a ttl-less lock within one lease', async () => {
    const prefix = redis.prefix();
    const LEASE = 1_000;
    const child = worker('./holder.ts', { REDIS_URL: redis.url, PREFIX: prefix, NAME: 'killed', LEASE: String(LEASE) });
    const held = await child.message((m) => m.acquired === true || m.error !== undefined);
    expect(held.acquired).toBe(true);

    const waiter = subscribeLock(lock$('killed', { redis: redis.client(), prefix }));
    holdings.push(waiter);
    // Let it outlive a lease first: the child's renewals keep it.
    await new Promise((resolve) => setTimeout(resolve, LEASE + 200));
    expect(waiter.leases).toHaveLength(0);

    const killedAt = performance.now();
    child.kill('SIGKILL');
    const lease = await within(waiter.acquired, 5_000, 'the waiter');
    const freedAfter = waiter.leases[0]!.at - killedAt;
    console.log(`[sigkill] lease ${LEASE} ms: the waiter acquired ${freedAfter.toFixed(0)} ms after the kill`);
    expect(freedAfter).toBeLessThan(LEASE + 1_500);
    expect(lease.fence).toBeGreaterThan(held.fence as number);
    expect(await child.exited).toEqual({ code: null, signal: 'SIGKILL' });
  });
});
