import { afterEach, beforeEach, expect, vi } from 'vitest';

/**
 * What the unit specs fake. `performance` is listed explicitly: every
 * deadline in src is on performance.now(), and a real one would let these
 * specs pass or fail by the wall clock instead of by the code.
 */
export const FAKED = [
  'setTimeout',
  'clearTimeout',
  'setInterval',
  'clearInterval',
  'setImmediate',
  'clearImmediate',
  'Date',
  'performance',
] as const;

/** Fake timers and performance.now() for each test of the enclosing suite. */
export function useFakeClock(): void {
  beforeEach(() => {
    vi.useFakeTimers({ toFake: [...FAKED] });
    // Should a vitest upgrade stop faking performance, fail here rather than time out or pass by luck.
    const before = performance.now();
    vi.advanceTimersByTime(7);
    expect(performance.now() - before, 'performance.now() follows the fake clock').toBe(7);
  });
  afterEach(() => {
    vi.useRealTimers();
  });
}

/** Lets every promise callback run (the fake clock yields to the real event loop), without moving time. */
export async function settle(): Promise<void> {
  await vi.advanceTimersByTimeAsync(0);
}

export interface Deferred<T> {
  readonly promise: Promise<T>;
  resolve(value: T): void;
  reject(error: unknown): void;
}

export function deferred<T>(): Deferred<T> {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
