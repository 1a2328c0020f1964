/**
 * Conformance, sharing: how many instances of the kind hold at once. An
 * exclusive kind lets its waiters in one at a time; a shared kind lets all
 * of them in together, and keeps a writer out until the last has left.
 */
import { describe, expect, it } from 'vitest';
import { settledWithin, sleep } from '../facade-fixture';
import type { LockFactory } from './factory';

export function sharing(f: LockFactory): void {
  describe('sharing', () => {
    if (f.sharing === 'exclusive') exclusiveKind(f);
    else sharedKind(f);
  });
}

function exclusiveKind(f: LockFactory): void {
  it('five instances blocked on one lock all proceed, one at a time, after its release', async () => {
    const holder = f.make();
    await holder.acquire();
    const order: number[] = [];
    let inside = 0;
    let mostInside = 0;
    const waiters = Array.from({ length: 5 }, () => f.make());
    const done = waiters.map(async (waiter, i) => {
      expect(await waiter.acquire()).toBe(true);
      inside += 1;
      mostInside = Math.max(mostInside, inside);
      order.push(i);
      await sleep(20);
      inside -= 1;
      await waiter.release();
    });
    expect(await settledWithin(Promise.race(done), 200)).toBe(false);
    expect(order).toEqual([]);

    await holder.release();
    await Promise.all(done);
    expect(mostInside).toBe(1);
    // The waiters of one process queue in arrival order (wait-queue.ts).
    expect(order).toEqual([0, 1, 2, 3, 4]);
    expect(await holder.locked()).toBe(false);
  });
}

function sharedKind(f: LockFactory): void {
  it(`five instances blocked behind a ${f.otherLabel} all hold at once after its release; it then waits for the last of them`, async () => {
    const writer = f.makeOther();
    await writer.acquire();
    const readers = Array.from({ length: 5 }, () => f.make());
    const waits = readers.map((reader) => reader.acquire());
    expect(await settledWithin(Promise.race(waits), 200)).toBe(false);

    await writer.release();
    // Were they taken one at a time, the first would hold on to it and the others would never get in.
    expect(await settledWithin(Promise.all(waits), 5_000), 'all five acquired while none released').toBe(true);
    expect(await Promise.all(waits)).toEqual([true, true, true, true, true]);
    const fences = readers.map((reader) => reader.fence);
    expect(new Set(fences).size, `each holds with a fence of its own: ${fences.join(' ')}`).toBe(5);
    expect(readers.map((reader) => reader.signal?.aborted)).toEqual([false, false, false, false, false]);

    for (const reader of readers.slice(0, 4)) {
      await reader.release();
      expect(await writer.acquire({ blocking: false })).toBe(false);
    }
    const waiting = writer.acquire();
    expect(await settledWithin(waiting, 100)).toBe(false);
    await readers[4]?.release();
    expect(await settledWithin(waiting, 5_000), 'the writer got in once the last reader left').toBe(true);
    expect(await waiting).toBe(true);
    await writer.release();
  });
}
