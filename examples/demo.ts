/**
 * `npm run demo`: yadl's main jobs in five short parts, on a real Redis.
 *
 *   1. contending-processes.ts  several processes, one lock, the promise facade
 *   2. reactive-pipeline.ts     lock$ inside an RxJS pipeline
 *   3. lost-hold.ts             a fixed ttl runs out under the holder
 *   4. fair-line.ts             a fair line, labels, query() and tracing
 *   5. coordination.ts          a semaphore, a multi-lock and a leader election
 *
 * Redis: REDIS_URL when set, else a private redis-server (redis-for-demo.ts).
 */
import { Redis } from 'ioredis';
import { setTimeout as sleep } from 'node:timers/promises';
import { contendingProcesses } from './contending-processes';
import { coordination } from './coordination';
import { fairLine } from './fair-line';
import { lostHold } from './lost-hold';
import { note, since } from './output';
import { reactivePipeline } from './reactive-pipeline';
import { NoRedisError, redisForDemo, type DemoRedis } from './redis-for-demo';

let server: DemoRedis | undefined;
let interrupted = false;

async function main(): Promise<void> {
  server = await redisForDemo();
  try {
    const redis = await connect(server);
    const version = /redis_version:(\S+)/.exec(await redis.info('server'))?.[1] ?? '?';
    const prefix = `yadl-demo-${process.pid}`; // keeps runs on a shared Redis apart
    console.log('yadl demo: distributed locks, semaphores and elections on Redis, as processes and as observables');
    note(`Redis ${version}: ${server.origin}.`);
    note('yadl turns on expiry notifications (notify-keyspace-events Kx) where CONFIG is allowed.');
    if (process.env.REDIS_URL) note(`Keys use the prefix '${prefix}'; the fence counters left expire within 10 minutes.`);
    note('Times are milliseconds since the demo started.');

    await contendingProcesses(server.url, prefix, redis);
    await reactivePipeline(server.url, prefix, redis);
    await lostHold(server.url, prefix);
    await fairLine(server.url, prefix);
    await coordination(server.url, prefix);

    await redis.del(`${prefix}:counter`);
    await redis.quit();
    // yadl closes the connections it opened from a URL 1 s after their last use. Stopping the
    // server before would leave ioredis retrying them, which delays the exit by seconds.
    if (!process.env.REDIS_URL) await sleep(1_100);
  } finally {
    await server.stop();
  }
  console.log(`\ndone in ${(since() / 1000).toFixed(1)} s${process.env.REDIS_URL ? '' : '; the private redis-server is stopped'}.`);
}

async function connect({ url, origin }: DemoRedis): Promise<Redis> {
  const redis = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 1 });
  let lastError = 'connection closed';
  redis.on('error', (error: Error) => (lastError = error.message));
  await redis.connect().catch(() => {
    throw new Error(`cannot connect to Redis at ${origin}: ${lastError}`);
  });
  return redis;
}

/** Ctrl-C: the workers get the signal too; stop the private server and leave. */
async function stop(signal: NodeJS.Signals): Promise<void> {
  if (interrupted) return;
  interrupted = true;
  console.error(`\n${signal}: stopping the demo`);
  await server?.stop();
  process.exit(signal === 'SIGINT' ? 130 : 143);
}
process.on('SIGINT', (signal) => void stop(signal));
process.on('SIGTERM', (signal) => void stop(signal));

main().catch((error: unknown) => {
  if (interrupted) return;
  if (error instanceof NoRedisError) console.error(error.message);
  else console.error(`\nThe demo failed: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
});
