/**
 * RedisReadLock: the conformance suite (spec/facade/conformance/) as a
 * shared kind, and regression 9.3.
 *
 * Regression 9.3: one RedisReadLock instance is one owner, like
 * threading.Lock. A second acquire on an instance that holds (or is
 * acquiring) waits until that hold is released, within its own timeout and
 * signal; so two withLock calls on one instance never overlap, and withLock
 * rejects with LockLostError when its hold ended by anything it did not do
 * (that case, for every class, is in conformance/holding.ts).
 *
 * On the code this was written against, a second lease arriving on the
 * instance dropped (released) the first hold: its signal aborted with a plain
 * "released" LockError, its withLock resolved normally, and a writer got in
 * while the first reader's fn still ran.
 */
import { describe, expect, it } from 'vitest';
import { RedisReadLock, RedisWriteLock } from '../../src/index';
import { waitFor } from '../core/holding';
import { conformance, KINDS, localSite, lockFactory } from './conformance';
import { settledWithin, sleep, useFacadeFixture } from './facade-fixture';

const fx = useFacadeFixture();

conformance(lockFactory(localSite(fx), KINDS.RedisReadLock));

interface Interval {
  who: string;
  start: number;
  end: number;
}

const overlap = (a: Interval, b: Interval): boolean => a.start < b.end && b.start < a.end;

describe('RedisReadLock: one instance, one owner', () => {
  it('regression 9.3: two withLock calls on one instance run one after the other, and no writer runs inside either', async () => {
    const reader = fx.lock(RedisReadLock);
    const writer = fx.lock(RedisWriteLock);
    const intervals: Interval[] = [];
    let firstSignalAborted: unknown;
    const critical =
      (who: string, ms: number) =>
      async (signal: AbortSignal): Promise<string> => {
        const start = performance.now();
        await sleep(ms);
        if (who === 'reader 1') firstSignalAborted = signal.aborted ? String(signal.reason) : false;
        intervals.push({ who, start, end: performance.now() });
        return who;
      };

    // Reader 1 is the longer one, so that whatever ends reader 2's hold early cannot hide inside it.
    const first = reader.withLock(critical('reader 1', 600));
    const second = reader.withLock(critical('reader 2', 100));
    await waitFor(() => reader.fence !== undefined, 5_000, 'the reader holding');
    const written = writer.withLock(critical('writer', 50), { timeout: 8_000 });
    const settled = await Promise.allSettled([first, second, written]);

    expect(settled.map((s) => s.status)).toEqual(['fulfilled', 'fulfilled', 'fulfilled']);
    const of = (who: string): Interval | undefined => intervals.find((i) => i.who === who);
    const [r1, r2, w] = [of('reader 1'), of('reader 2'), of('writer')];
    expect(r1 && r2 && w, 'every critical section ran').toBeTruthy();
    console.log(
      `[9.3] ${intervals
        .sort((a, b) => a.start - b.start)
        .map((i) => `${i.who} ${(i.start - r1!.start).toFixed(0)}-${(i.end - r1!.start).toFixed(0)}`)
        .join(', ')} ms`,
    );
    expect({
      readersOverlap: overlap(r1!, r2!),
      writerInside: [r1!, r2!].filter((r) => overlap(r, w!)).map((r) => r.who),
      firstSignalAbortedDuringItsFn: firstSignalAborted,
    }).toEqual({ readersOverlap: false, writerInside: [], firstSignalAbortedDuringItsFn: false });
  });

  it('regression 9.3: a second acquire on a holding instance waits for its release; blocking: false and a timeout answer false and keep the hold', async () => {
    const reader = fx.lock(RedisReadLock);
    expect(await reader.acquire()).toBe(true);
    const { fence, signal } = reader;
    try {
      const askedAt = performance.now();
      expect(await reader.acquire({ blocking: false }), 'acquire({ blocking: false }) while holding').toBe(false);
      expect(performance.now() - askedAt).toBeLessThan(1_000);
      const timedAt = performance.now();
      expect(await reader.acquire({ timeout: 300 }), 'acquire({ timeout: 300 }) while holding').toBe(false);
      expect(performance.now() - timedAt).toBeGreaterThanOrEqual(290);
      expect(reader.fence).toBe(fence);
      expect(signal?.aborted).toBe(false);

      const again = reader.acquire({ timeout: 5_000 });
      expect(await settledWithin(again, 300), 'a second acquire settling while the first hold stands').toBe(false);
      expect(signal?.aborted).toBe(false);
      await reader.release();
      expect(await again).toBe(true);
      expect(reader.fence).toBeGreaterThan(fence ?? Infinity);
    } finally {
      // Whatever hold the instance has now (a failed run may have left one), so that only the first failure is told.
      await reader.release().catch(() => undefined);
    }
  });
});
