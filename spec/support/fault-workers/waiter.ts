/**
 * Waits for a lock, holds it HOLD_MS (default 0), releases it and exits by
 * itself. Env: REDIS_URL, PREFIX, NAME, TIMEOUT. Prints {"waiting":true} once
 * its first attempt was refused, {"acquired":true,"fence":f,"at":epochMs}
 * once held and {"released":true} after. `at` is performance.timeOrigin +
 * performance.now(), a clock all processes share.
 */
import { lock$ } from '../../../src/index';

const env = process.env;
const now = (): number => performance.timeOrigin + performance.now();
const print = (message: Record<string, unknown>): void => console.log(JSON.stringify(message));
const options = { redis: env.REDIS_URL ?? '', prefix: env.PREFIX ?? '' };
const name = env.NAME ?? 'held';

// One single attempt first, so that the parent knows this process is queued behind the holder.
lock$(name, { ...options, timeout: 0 }).subscribe({
  next: () => {
    print({ error: 'the lock was free' });
    process.exitCode = 1;
    process.exit();
  },
  error: () => {
    print({ waiting: true, at: now() });
    const subscription = lock$(name, { ...options, timeout: Number(env.TIMEOUT ?? -1) }).subscribe({
      next: (lease) => {
        print({ acquired: true, fence: lease.fence, at: now() });
        setTimeout(() => {
          subscription.unsubscribe();
          print({ released: true, at: now() });
        }, Number(env.HOLD_MS ?? 0));
      },
      error: (error: unknown) => {
        print({ error: String(error), name: (error as Error).name, at: now() });
        process.exitCode = 1;
      },
    });
  },
});
