/**
 * Conformance, exclusion: a held lock keeps out whoever it must, across
 * instances (even on one client) and across classes, and a wait is bounded
 * by `blocking: false`, `timeout` and `signal`. Runs for every kind; for a
 * shared kind the holder that keeps it out is a writer (see `rival`).
 */
import { describe, expect, it } from 'vitest';
import { NotOwnerError } from '../../../src/index';
import { settledWithin, sleep } from '../facade-fixture';
import { rival, type LockFactory } from './factory';

export function exclusion(f: LockFactory): void {
  describe('exclusion', () => {
    it('acquire({ blocking: false }) and acquire({ timeout: 0 }) on a contended lock resolve false at once', async () => {
      const holder = rival(f);
      const other = f.make();
      await holder.acquire();
      const started = performance.now();
      expect(await other.acquire({ blocking: false })).toBe(false);
      expect(await other.acquire({ timeout: 0 })).toBe(false);
      expect(performance.now() - started).toBeLessThan(500);
      expect(other.fence).toBeUndefined();
      await holder.release();
      expect(await other.acquire({ blocking: false })).toBe(true);
      await other.release();
    });

    it('acquire({ timeout }) resolves false after about the timeout and leaves the state unchanged', async () => {
      const holder = rival(f);
      const other = f.make();
      await holder.acquire();
      const fence = holder.fence;
      const timeout = 250;
      const started = performance.now();
      expect(await other.acquire({ timeout })).toBe(false);
      const elapsed = performance.now() - started;
      expect(elapsed).toBeGreaterThanOrEqual(timeout - 5);
      expect(elapsed).toBeLessThan(timeout + 1000);

      expect(await holder.locked()).toBe(true);
      expect([holder.fence, holder.signal?.aborted]).toEqual([fence, false]);
      expect([other.fence, other.signal]).toEqual([undefined, undefined]);
      await expect(other.release()).rejects.toThrow(NotOwnerError);
      await expect(other.release()).rejects.toThrow(/cannot release un-acquired lock/);
      await holder.release();
      expect(await holder.locked()).toBe(false);
    });

    it('two instances of one name on one shared ioredis client exclude each other', async () => {
      // Ownership is per instance, not per client or process.
      const client = f.site.client();
      const first = rival(f, { redis: client });
      const second = f.make({ redis: client });
      await first.acquire();
      expect(await second.acquire({ blocking: false })).toBe(false);
      await expect(second.release()).rejects.toThrow(/cannot release un-acquired lock/);
      await first.release();
      expect(await second.acquire({ blocking: false })).toBe(true);
      expect(await first.acquire({ blocking: false })).toBe(false);
      await second.release();
    });

    it(`${f.label} and ${f.otherLabel} of one name exclude each other`, async () => {
      const mine = f.make();
      const theirs = f.makeOther();
      await mine.acquire();
      expect(await theirs.acquire({ blocking: false })).toBe(false);
      await expect(theirs.release()).rejects.toThrow(/cannot release un-acquired lock/);
      const waiting = theirs.acquire();
      await mine.release();
      expect(await waiting).toBe(true);
      expect(await mine.acquire({ blocking: false })).toBe(false);
      await theirs.release();
    });

    it("aborting acquire's signal while it waits rejects with signal.reason and leaves nothing held", async () => {
      const holder = rival(f);
      const other = f.make();
      await holder.acquire();
      const controller = new AbortController();
      const reason = new Error('no longer needed');
      const waiting = other.acquire({ signal: controller.signal });
      await sleep(50);
      controller.abort(reason);
      await expect(waiting).rejects.toBe(reason);
      expect(other.fence).toBeUndefined();

      await holder.release();
      expect(await holder.locked()).toBe(false);
      await expect(other.acquire({ signal: AbortSignal.abort(reason) })).rejects.toBe(reason);
      expect(await holder.locked()).toBe(false);
    });

    it("while one acquire of the instance waits, another's timeout and signal still bound its wait", async () => {
      const holder = f.makeOther();
      const lock = f.make();
      await holder.acquire();
      const first = lock.acquire();
      const timed = lock.acquire({ timeout: 100 });
      const signalled = lock.acquire({ signal: AbortSignal.timeout(100) });
      const all = Promise.allSettled([first, timed, signalled]);
      try {
        const bounded = await settledWithin(Promise.allSettled([timed, signalled]), 100 + 1000);
        expect(bounded, 'acquire({ timeout: 100 }) and acquire({ signal }) settled within 1.1 s').toBe(true);
      } finally {
        await holder.release();
        await all;
        while (lock.fence !== undefined) await lock.release();
      }
      const outcomes = (await all).map((o) => (o.status === 'fulfilled' ? o.value : (o.reason as Error).name));
      expect(outcomes).toEqual([true, false, 'TimeoutError']);
    });
  });
}
