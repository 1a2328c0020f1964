/**
 * One reader or writer of read-write.processes.spec.ts, in its own process.
 * Env: REDIS_URL, PREFIX, NAME, MODE ('read' | 'write'), ROUNDS, HOLD_MS
 * (min-max), GAP_MS (min-max). Prints {"ready":true} once loaded, starts on
 * a line on stdin, then acquires, holds and releases ROUNDS times, and prints
 * {"intervals":[{start,end}...]} on the machine's monotonic clock in ms
 * (process.hrtime: CLOCK_MONOTONIC, the same in every process, with no
 * per-process origin to sample).
 */
import { RedisReadLock, RedisWriteLock } from '../../../src/index';

const env = process.env;
const mode = env.MODE === 'write' ? 'write' : 'read';
const rounds = Number(env.ROUNDS ?? '10');
const range = (text: string | undefined): [number, number] => {
  const [min = 0, max = min] = (text ?? '0').split('-').map(Number);
  return [min, max];
};
const [holdMin, holdMax] = range(env.HOLD_MS);
const [gapMin, gapMax] = range(env.GAP_MS);
const pick = (min: number, max: number): number => min + Math.random() * (max - min);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
const clock = (): number => Number(process.hrtime.bigint()) / 1e6;

async function main(): Promise<void> {
  const options = { redis: env.REDIS_URL ?? '', prefix: env.PREFIX ?? '' };
  const lock = mode === 'read' ? new RedisReadLock(env.NAME ?? 'rw', options) : new RedisWriteLock(env.NAME ?? 'rw', options);
  const intervals: Array<{ start: number; end: number }> = [];
  for (let round = 0; round < rounds; round++) {
    await lock.acquire();
    const start = clock();
    await sleep(pick(holdMin, holdMax));
    intervals.push({ start, end: clock() });
    await lock.release();
    await sleep(pick(gapMin, gapMax));
  }
  console.log(JSON.stringify({ intervals }));
}

console.log(JSON.stringify({ ready: true }));
process.stdin.once('data', () => {
  process.stdin.pause();
  main().then(
    () => setTimeout(() => process.exit(0), 10),
    (error: unknown) => {
      console.log(JSON.stringify({ error: String(error) }));
      process.exit(1);
    },
  );
});
