import type { Observable, Subscription } from 'rxjs';
import type { Lease } from '../../src/index';

/** How one `lock$` subscription ended, if it did. */
export type Ending = { kind: 'error'; error: unknown; at: number } | { kind: 'complete'; at: number };

/** One subscription to a lock$ observable, observed for tests. */
export interface Holding<L = Lease> {
  /** Every Lease emitted, with the performance.now() at which it came. */
  readonly leases: { lease: L; at: number }[];
  /** Resolves with the first Lease; rejects if the observable errors first. */
  readonly acquired: Promise<L>;
  /** Resolves when the observable errors or completes (never if it is unsubscribed first). */
  readonly ended: Promise<Ending>;
  readonly subscription: Subscription;
  /** performance.now() just before subscribing: no hold taken by this subscription can start earlier. */
  readonly subscribedAt: number;
  /** The error or completion, once it came. */
  ending(): Ending | undefined;
  unsubscribe(): void;
}

export function subscribeLock<L = Lease>(lock: Observable<L>): Holding<L> {
  const leases: { lease: L; at: number }[] = [];
  let end: Ending | undefined;
  let resolveAcquired!: (lease: L) => void;
  let rejectAcquired!: (error: unknown) => void;
  let resolveEnded!: (ending: Ending) => void;
  const acquired = new Promise<L>((resolve, reject) => {
    resolveAcquired = resolve;
    rejectAcquired = reject;
  });
  acquired.catch(() => undefined); // a test that does not await it must not see an unhandled rejection
  const ended = new Promise<Ending>((resolve) => (resolveEnded = resolve));
  const subscribedAt = performance.now();
  const subscription = lock.subscribe({
    next: (lease) => {
      leases.push({ lease, at: performance.now() });
      resolveAcquired(lease);
    },
    error: (error: unknown) => {
      end = { kind: 'error', error, at: performance.now() };
      rejectAcquired(error);
      resolveEnded(end);
    },
    complete: () => {
      end = { kind: 'complete', at: performance.now() };
      rejectAcquired(new Error('completed without a lease'));
      resolveEnded(end);
    },
  });
  return {
    leases,
    acquired,
    ended,
    subscription,
    subscribedAt,
    ending: () => end,
    unsubscribe: () => subscription.unsubscribe(),
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Polls `condition` every few ms until it holds; fails after `withinMs`. */
export async function waitFor(condition: () => boolean, withinMs = 5_000, what = 'condition'): Promise<void> {
  const until = performance.now() + withinMs;
  while (!condition()) {
    if (performance.now() > until) throw new Error(`${what} not reached within ${withinMs} ms`);
    await sleep(2);
  }
}

/** Rejects when `promise` does not settle within `ms`; the timer never outlives it. */
export async function within<T>(promise: Promise<T>, ms: number, what = 'promise'): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  try {
    return await Promise.race([
      promise,
      new Promise<never>((_, reject) => {
        timer = setTimeout(() => reject(new Error(`${what} did not settle within ${ms} ms`)), ms);
      }),
    ]);
  } finally {
    clearTimeout(timer);
  }
}

export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const index = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[index] ?? Number.NaN;
}
