/**
 * One process of the soak (spec/load/soak.spec.ts): ACTORS actors over NAMES
 * names, each taking its name again and again until SOAK_MS pass, through
 * lock$ (odd actors) or the facade (even actors), in a random mode
 * (exclusive, write or read), with a random timeout (forever, one attempt,
 * or 1-300 ms) and, one time in five, a cancellation at a random moment
 * (unsubscribe, or aborting acquire's signal).
 *
 * A write holder increments the name's counter non-atomically (GET, hold
 * 0-5 ms, SET); a read holder reads it twice, 0-5 ms apart, and the two
 * reads must agree. Every hold's interval is recorded on a clock all
 * processes share: process.hrtime (CLOCK_MONOTONIC). performance.timeOrigin
 * is not one: it is fixed from the wall clock at each process's start, and
 * a clock adjustment between starts shifted whole processes by milliseconds,
 * which showed as overlapping holds while the counters stayed exact.
 *
 * Env: REDIS_URL, PREFIX, NAMES, ACTORS, SOAK_MS, READ_SHARE, OUT (a file
 * for the records). Prints {"done":true,...counts} when finished, then must exit by
 * itself; {"exiting":true,"diagnostics":{...}} is printed on beforeExit.
 */
import { writeFileSync } from 'node:fs';
import { Redis } from 'ioredis';
import { LockTimeoutError, RedisLock, RedisReadLock, RedisWriteLock, lock$, type Lease, type LockMode } from '../../../src/index';
import { diagnostics } from '../../../src/diagnostics';

const env = process.env;
const url = env.REDIS_URL ?? '';
const prefix = env.PREFIX ?? 'soak';
const NAMES = Number(env.NAMES ?? 20);
const ACTORS = Number(env.ACTORS ?? 200);
const SOAK_MS = Number(env.SOAK_MS ?? 30_000);
const now = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const random = (n: number): number => Math.floor(Math.random() * n);

const counter = new Redis(url);
const counterKey = (name: number): string => `${prefix}-counter:n${name}`;
const stop = new AbortController();
const STOPPED = new Error('soak over');
/** lock$ subscriptions still waiting, which the end of the soak cancels (a lock$ signal would also end holds). */
const waiting = new Set<() => void>();
stop.signal.addEventListener('abort', () => {
  for (const cancel of waiting) cancel();
});

const counts = {
  holds: 0,
  writes: 0,
  reads: 0,
  timeouts: 0,
  cancelledWaiting: 0,
  cancelledHolding: 0,
  stopped: 0,
  lost: 0,
  readMismatches: 0,
};
const increments: number[] = Array.from({ length: NAMES }, () => 0);
/** [name, fence, start, end] */
const writes: [number, number, number, number][] = [];
/** [name, start, end] */
const reads: [number, number, number][] = [];
const unexpected: string[] = [];
/** How long each acquisition that got the lock waited, ms. */
const waits: number[] = [];

/** The share of read holds (env READ_SHARE, default 0.3); the rest are exclusive and write half and half. */
const READ_SHARE = Number(env.READ_SHARE ?? 0.3);

function pickMode(): LockMode {
  const r = Math.random();
  return r < READ_SHARE ? 'read' : r < (1 + READ_SHARE) / 2 ? 'exclusive' : 'write';
}

function pickTimeout(): number {
  const r = Math.random();
  return r < 0.4 ? -1 : r < 0.6 ? 0 : 1 + random(300);
}

/** The critical section; `signal` aborts if the hold is lost meanwhile. */
async function critical(name: number, mode: LockMode, fence: number, signal: AbortSignal): Promise<void> {
  counts.holds += 1;
  const start = now();
  if (mode === 'read') {
    const first = await counter.get(counterKey(name));
    await sleep(random(6));
    const second = await counter.get(counterKey(name));
    if (first !== second) counts.readMismatches += 1;
    reads.push([name, start, now()]);
    counts.reads += 1;
  } else {
    const value = Number((await counter.get(counterKey(name))) ?? '0');
    await sleep(random(6));
    await counter.set(counterKey(name), String(value + 1));
    writes.push([name, fence, start, now()]);
    increments[name] = (increments[name] ?? 0) + 1;
    counts.writes += 1;
  }
  if (signal.aborted) counts.lost += 1;
}

function classify(error: unknown): void {
  if (error === STOPPED) counts.stopped += 1;
  else if (error instanceof LockTimeoutError) counts.timeouts += 1;
  else unexpected.push(String(error));
}

function viaObservable(name: number): Promise<void> {
  const mode = pickMode();
  const timeout = pickTimeout();
  const cancelAfter = Math.random() < 0.2 ? random(50) : undefined;
  return new Promise<void>((resolve) => {
    let phase: 'waiting' | 'critical' | 'after' | 'done' = 'waiting';
    let cancelRequested = false;
    let cancelTimer: NodeJS.Timeout | undefined;
    const finish = (): void => {
      if (phase === 'done') return;
      phase = 'done';
      clearTimeout(cancelTimer);
      waiting.delete(stopWaiting);
      subscription?.unsubscribe();
      resolve();
    };
    const stopWaiting = (): void => {
      counts.stopped += 1;
      finish();
    };
    waiting.add(stopWaiting);
    const askedAt = performance.now();
    const subscription = lock$(`n${name}`, { redis: url, prefix, mode, timeout }).subscribe({
      next: (lease: Lease) => {
        waiting.delete(stopWaiting);
        waits.push(performance.now() - askedAt);
        phase = 'critical';
        void critical(name, mode, lease.fence, lease.signal)
          .catch((error: unknown) => unexpected.push(`critical: ${String(error)}`))
          .then(async () => {
            if (cancelRequested) {
              counts.cancelledHolding += 1;
              return finish();
            }
            phase = 'after';
            await sleep(random(3));
            finish();
          });
      },
      error: (error: unknown) => {
        if (phase === 'waiting') classify(error);
        else unexpected.push(`while holding: ${String(error)}`);
        finish();
      },
    });
    if (cancelAfter !== undefined) {
      cancelTimer = setTimeout(() => {
        if (phase === 'waiting') {
          counts.cancelledWaiting += 1;
          finish();
        } else if (phase === 'after') {
          counts.cancelledHolding += 1;
          finish();
        } else {
          cancelRequested = true; // never in the middle of GET/SET: release right after it
        }
      }, cancelAfter);
    }
  });
}

interface Facades {
  exclusive: RedisLock;
  write: RedisWriteLock;
  read: RedisReadLock;
}

async function viaFacade(name: number, locks: Facades): Promise<void> {
  const mode = pickMode();
  const timeout = pickTimeout();
  const lock = locks[mode];
  const cancel = new AbortController();
  const cancelTimer = Math.random() < 0.2 ? setTimeout(() => cancel.abort(), random(50)) : undefined;
  let acquired = false;
  const askedAt = performance.now();
  try {
    acquired = await lock.acquire({ timeout, signal: AbortSignal.any([cancel.signal, stop.signal]) });
    if (!acquired) counts.timeouts += 1;
  } catch (error) {
    if (cancel.signal.aborted && error === cancel.signal.reason) counts.cancelledWaiting += 1;
    else classify(error);
  } finally {
    clearTimeout(cancelTimer);
  }
  if (!acquired) return;
  waits.push(performance.now() - askedAt);
  try {
    await critical(name, mode, lock.fence ?? 0, lock.signal ?? new AbortController().signal);
    await sleep(random(3));
  } finally {
    await lock.release().catch((error: unknown) => unexpected.push(`release: ${String(error)}`));
  }
}

async function actor(k: number): Promise<void> {
  const name = k % NAMES;
  const options = { redis: url, prefix };
  const facades: Facades | undefined =
    k % 2 === 0
      ? {
          exclusive: new RedisLock(`n${name}`, options),
          write: new RedisWriteLock(`n${name}`, options),
          read: new RedisReadLock(`n${name}`, options),
        }
      : undefined;
  const until = performance.now() + SOAK_MS;
  while (performance.now() < until && !stop.signal.aborted) {
    await (facades ? viaFacade(name, facades) : viaObservable(name));
  }
}

process.on('beforeExit', () => {
  process.removeAllListeners('beforeExit');
  console.log(JSON.stringify({ exiting: true, diagnostics, at: now() }));
});

const stopTimer = setTimeout(() => stop.abort(STOPPED), SOAK_MS);
await Promise.all(Array.from({ length: ACTORS }, (_, k) => actor(k)));
clearTimeout(stopTimer);
await counter.quit();
writeFileSync(env.OUT ?? '/dev/null', JSON.stringify({ increments, writes, reads, unexpected, waits }));
console.log(JSON.stringify({ done: true, at: now(), ...counts, unexpected: unexpected.length }));
