/**
 * Closes a lock$ acquisition while its first attempt is in flight to a Redis
 * that does not answer (REDIS_URL: nothing listens there), and watches the
 * event loop: regression 9.1a, where such an acquisition still joined the
 * wait queue and the queue then spun on it without ever yielding.
 *
 * The client gives up on a command after one reconnect (maxRetriesPerRequest
 * 1, a reconnect every 50 ms), so the attempt fails with ioredis'
 * MaxRetriesPerRequestError about 100 ms after it was sent, well after the
 * close at CLOSE_AFTER ms and well within REDIS_TIMEOUT.
 *
 * Env: REDIS_URL, HOW ('timeout', 'signal' or 'unsubscribe'), CLOSE_AFTER
 * (ms), REDIS_TIMEOUT (ms), RUN_MS (how long to watch). Prints
 * {"beat":n,"lag":ms,"at":epochMs} every 20 ms (a missing beat is a blocked
 * event loop: the parent kills this process), {"ended":...} when the
 * subscription errors, and {"done":true,...} after RUN_MS, when it closes its
 * client and must then exit by itself (nothing of yadl's left open).
 */
import { Redis } from 'ioredis';
import { LockError, lock$ } from '../../../src/index';
import { diagnostics } from '../../../src/diagnostics';

const env = process.env;
const how = env.HOW ?? 'timeout';
const closeAfter = Number(env.CLOSE_AFTER ?? 30);
const redisTimeout = Number(env.REDIS_TIMEOUT ?? 2_000);
const runMs = Number(env.RUN_MS ?? redisTimeout + 1_000);
const now = (): number => performance.timeOrigin + performance.now();
const print = (message: Record<string, unknown>): void => console.log(JSON.stringify(message));

const client = new Redis(env.REDIS_URL ?? '', { maxRetriesPerRequest: 1, retryStrategy: () => 50 });
client.on('error', () => undefined); // refused connections are the point

// Lag of a 10 ms interval: how late each tick came, the worst since the last beat.
let expected = performance.now() + 10;
let lag = 0;
let maxLag = 0;
const ticker = setInterval(() => {
  const late = performance.now() - expected;
  lag = Math.max(lag, late);
  maxLag = Math.max(maxLag, late);
  expected = performance.now() + 10;
}, 10);
let beats = 0;
const beater = setInterval(() => {
  beats += 1;
  print({ beat: beats, lag: Math.round(lag), at: now() });
  lag = 0;
}, 20);

const started = performance.now();
const abort = new AbortController();
const reason = new Error('aborted by the worker');
const subscription = lock$('closed-in-flight', {
  redis: client,
  redisTimeout,
  ...(how === 'timeout' ? { timeout: closeAfter } : {}),
  ...(how === 'signal' ? { signal: abort.signal } : {}),
}).subscribe({
  next: () => print({ acquired: true, at: now() }),
  error: (error: unknown) =>
    print({
      ended: (error as Error).name,
      message: (error as Error).message,
      lockError: error instanceof LockError,
      isReason: error === reason,
      after: Math.round(performance.now() - started),
      at: now(),
    }),
});
print({ subscribed: true, how, at: now() });
if (how === 'signal') setTimeout(() => abort.abort(reason), closeAfter);
if (how === 'unsubscribe') setTimeout(() => subscription.unsubscribe(), closeAfter);

setTimeout(() => {
  clearInterval(ticker);
  clearInterval(beater);
  subscription.unsubscribe();
  client.disconnect();
  print({ done: true, maxLag: Math.round(maxLag), diagnostics, at: now() });
}, runMs);
