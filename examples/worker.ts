/**
 * One of the processes of part 1 of the demo (see contending-processes.ts).
 *
 * ROUNDS times it takes the lock 'counter' with RedisLock.withLock and, while
 * holding it, does an unguarded read-modify-write of a shared counter: GET,
 * a pause, SET. Without the lock, processes would overwrite each other's
 * increments. It reports each step as one JSON line on stdout.
 *
 * Usage: worker.ts <redis url> <prefix> <worker id> <rounds>
 */
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { RedisLock } from '../src/index';
import { since } from './output';

const [url = '', prefix = '', id = '0', rounds = '2'] = process.argv.slice(2);
const redis = new Redis(url);
// A client you pass is shared by the lock and never closed by yadl.
const lock = new RedisLock('counter', { prefix, redis });
const counterKey = `${prefix}:counter`;

function report(event: string, details: Record<string, number | undefined> = {}): void {
  console.log(JSON.stringify({ t: since(), worker: Number(id), event, ...details }));
}

await redis.ping();
report('ready');
await startSignal();

for (let round = 0; round < Number(rounds); round++) {
  report('waits');
  await lock.withLock(async () => {
    const acquiredAt = since();
    const value = Number(await redis.get(counterKey));
    report('acquired', { t: acquiredAt, fence: lock.fence, read: value });
    await sleep(40); // another process writing now would lose an update
    await redis.set(counterKey, value + 1);
    report('releases', { wrote: value + 1 }); // withLock releases as this function returns
  });
}
await redis.quit();

/** The parent writes a line once every worker is ready, so that they all start contending at once. */
async function startSignal(): Promise<void> {
  for await (const _line of process.stdin) return;
  throw new Error('the demo ended before the workers could start');
}
