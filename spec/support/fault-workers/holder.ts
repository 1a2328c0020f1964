/**
 * Takes a lock and holds it until killed (or until HOLD_MS pass, then
 * releases and exits by itself). Env: REDIS_URL, PREFIX, NAME, LEASE, TTL,
 * LOCK_MODE, HOLD_MS. Prints {"acquired":true,"fence":f,"at":epochMs} once held,
 * {"released":true,"at":epochMs} after releasing, {"error":...} on failure.
 * `at` is performance.timeOrigin + performance.now(), a clock all processes share.
 */
import { lock$, type LockMode } from '../../../src/index';

const env = process.env;
const now = (): number => performance.timeOrigin + performance.now();
const print = (message: Record<string, unknown>): void => console.log(JSON.stringify(message));

const subscription = lock$(env.NAME ?? 'held', {
  redis: env.REDIS_URL ?? '',
  prefix: env.PREFIX ?? '',
  ...(env.LEASE ? { lease: Number(env.LEASE) } : {}),
  ...(env.TTL ? { ttl: Number(env.TTL) } : {}),
  mode: (env.LOCK_MODE ?? 'exclusive') as LockMode,
}).subscribe({
  next: (lease) => {
    print({ acquired: true, fence: lease.fence, at: now() });
    if (env.HOLD_MS) {
      setTimeout(() => {
        subscription.unsubscribe();
        print({ released: true, at: now() });
      }, Number(env.HOLD_MS));
    }
  },
  error: (error: unknown) => {
    print({ error: String(error), name: (error as Error).name, at: now() });
    process.exitCode = 1;
  },
});
