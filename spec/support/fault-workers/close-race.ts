/**
 * Regression 9.1b (spec/core/wait-queue.spec.ts): cancels lock$ subscriptions
 * a few microtask hops after Redis answered their first attempt "blocked",
 * sweeping the hop count and the way the hops are scheduled, to land inside
 * the window between the reply and the waiter joining its queue.
 *
 * A spin in that window blocks this event loop for good, which is why it runs
 * in a process of its own: the parent watches the heartbeat and kills it.
 *
 * Env: REDIS_URL, PREFIX, NAME, MAX_HOPS (default 20), REPEATS (default 2).
 * Prints {"beat":n} every 20 ms, {"ready":true} once the lock is held by
 * another owner, {"round":k,"scheduling":s,"hops":h} after each cancellation,
 * and {"done":true,"quiet":bool,"left":{...}} at the end; then it must exit by
 * itself (nothing of yadl's left to hold it open).
 */
import { Redis } from 'ioredis';
import { lock$, type Lease } from '../../../src/index';
import { diagnostics } from '../../../src/diagnostics';

const env = process.env;
const url = env.REDIS_URL ?? '';
const options = { prefix: env.PREFIX ?? '', lease: 30_000 };
const name = env.NAME ?? 'race';
const MAX_HOPS = Number(env.MAX_HOPS ?? 20);
const REPEATS = Number(env.REPEATS ?? 2);
const print = (message: Record<string, unknown>): void => console.log(JSON.stringify(message));
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

let beats = 0;
const heartbeat = setInterval(() => print({ beat: (beats += 1) }), 20);

/** Ways to wait `hops` microtask turns after the reply arrived. */
const schedulings: Record<string, (hops: number) => Promise<void>> = {
  await: async (hops) => {
    for (let i = 0; i < hops; i++) await Promise.resolve();
  },
  queueMicrotask: (hops) =>
    new Promise<void>((resolve) => {
      const step = (left: number): void => (left === 0 ? resolve() : queueMicrotask(() => step(left - 1)));
      step(hops);
    }),
  // process.nextTick runs before promise jobs: a shift of the whole sweep.
  nextTick: (hops) =>
    new Promise<void>((resolve) => process.nextTick(() => void schedulings.await!(hops).then(resolve))),
};

const client = new Redis(url);
const holder = await new Promise<{ unsubscribe(): void }>((resolve, reject) => {
  const subscription = lock$(name, { ...options, redis: client }).subscribe({
    next: () => resolve(subscription),
    error: reject,
  });
});
print({ ready: true });

let round = 0;
const unexpected: string[] = [];
for (let repeat = 0; repeat < REPEATS; repeat++) {
  for (const [scheduling, wait] of Object.entries(schedulings)) {
    for (let hops = 0; hops <= MAX_HOPS; hops++) {
      round += 1;
      const subscription = lock$(name, { ...options, redis: client }).subscribe({
        next: (lease: Lease) => unexpected.push(`round ${round} acquired a held lock (fence ${lease.fence})`),
        error: (error: unknown) => unexpected.push(`round ${round}: ${String(error)}`),
      });
      // Sent right after the acquire script on the same connection: its reply
      // comes right after the blocked reply, so its continuation marks when
      // that reply arrived.
      await client.ping();
      await wait(hops);
      subscription.unsubscribe();
      print({ round, scheduling, hops });
      // Long enough for a queue joined by the closed waiter to confirm its subscription and run.
      await sleep(15);
    }
  }
}

holder.unsubscribe();
// yadl's lingers (channel 500 ms, connection release) are short; 3 s is generous.
const until = performance.now() + 3_000;
const quiet = (): boolean =>
  diagnostics.connectionUsers === 0 && diagnostics.ownedClients === 0 && diagnostics.channels === 0 && diagnostics.waitQueues === 0;
while (!quiet() && performance.now() < until) await sleep(25);
print({ done: true, rounds: round, quiet: quiet(), left: { ...diagnostics }, unexpected });
clearInterval(heartbeat);
await client.quit();
