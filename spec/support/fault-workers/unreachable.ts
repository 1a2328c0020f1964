/**
 * Tries a lock at a URL where nothing listens (REDIS_URL) with REDIS_TIMEOUT,
 * through the facade and lock$, prints {"failed":[error names],"at":epochMs}
 * and then does nothing more: it must exit by itself, which shows that yadl
 * let go of its connection and timers after RedisUnavailableError.
 */
import { RedisLock, lock$ } from '../../../src/index';

const url = process.env.REDIS_URL ?? '';
const redisTimeout = Number(process.env.REDIS_TIMEOUT ?? 500);
const names: string[] = [];
const lock = new RedisLock('nowhere', { redis: url, redisTimeout });
await lock.acquire().catch((error: unknown) => names.push((error as Error).name));
await new Promise<void>((resolve) =>
  lock$('nowhere', { redis: url, redisTimeout }).subscribe({
    next: () => resolve(),
    error: (error: unknown) => {
      names.push((error as Error).name);
      resolve();
    },
  }),
);
console.log(JSON.stringify({ failed: names, at: performance.timeOrigin + performance.now() }));
