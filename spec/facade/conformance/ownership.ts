/**
 * Conformance, ownership: a hold belongs to the instance that took it. Who
 * may release it (NotOwnerError otherwise), what `force` frees, and, for a
 * kind that is not reentrant, one hold per instance: a second acquire on a
 * holding instance waits for that instance's own release, as a second
 * `threading.Lock.acquire()` does (README, "One hold per instance").
 */
import { describe, expect, it } from 'vitest';
import { LockError, NotOwnerError } from '../../../src/index';
import { settledWithin, sleep } from '../facade-fixture';
import type { LockFactory } from './factory';

export function ownership(f: LockFactory): void {
  describe('ownership', () => {
    it("release of an unacquired lock rejects NotOwnerError 'release unlocked lock'", async () => {
      const lock = f.make();
      const error = await lock.release().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotOwnerError);
      expect(error).toBeInstanceOf(LockError);
      expect((error as Error).message).toContain('release unlocked lock');

      await lock.acquire();
      await lock.release();
      await expect(lock.release()).rejects.toThrow(/release unlocked lock/);
    });

    it("release by another owner rejects NotOwnerError 'cannot release un-acquired lock' and changes nothing", async () => {
      const holder = f.make();
      const other = f.make();
      await holder.acquire();
      const error = await other.release().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotOwnerError);
      expect((error as NotOwnerError).heldByOther).toBe(true);
      expect((error as Error).message).toContain('cannot release un-acquired lock');
      expect(await other.locked()).toBe(true);
      expect(holder.signal?.aborted).toBe(false);
      await holder.release();
    });

    if (f.sharing === 'exclusive') {
      it('force release frees a lock held by another instance, and resolves on a free lock', async () => {
        const holder = f.make();
        const admin = f.make();
        await expect(admin.release({ force: true })).resolves.toBeUndefined();
        await holder.acquire();
        await admin.release({ force: true });
        expect(await admin.locked()).toBe(false);
        await expect(holder.release()).rejects.toThrow(NotOwnerError);
      });
    } else {
      it(`force release by a shared instance frees only its own hold, never another's or a ${f.otherLabel}'s`, async () => {
        const mine = f.make();
        const theirs = f.make();
        const writer = f.makeOther();
        await Promise.all([mine.acquire(), theirs.acquire()]);
        await mine.release({ force: true });
        expect(mine.fence).toBeUndefined();
        expect(await writer.acquire({ blocking: false }), 'a writer while the other reader still holds').toBe(false);
        const error = await mine.release({ force: true }).catch((e: unknown) => e);
        expect(error).toBeInstanceOf(NotOwnerError);
        expect((error as NotOwnerError).heldByOther).toBe(true);

        await theirs.release();
        expect(await writer.acquire({ blocking: false })).toBe(true);
        await expect(mine.release({ force: true })).rejects.toThrow(/cannot release un-acquired lock/);
        expect(writer.signal?.aborted).toBe(false);
        expect(await writer.locked()).toBe(true);
        await writer.release();
        await expect(mine.release({ force: true })).rejects.toThrow(/release unlocked lock/);
      });
    }

    if (!f.reentrant) oneHoldPerInstance(f);
  });
}

/** CPython lock_tests.LockTests: a second acquire by the holder waits, like anyone else's. */
function oneHoldPerInstance(f: LockFactory): void {
  describe('one hold per instance', () => {
    it('a second acquire({ blocking: false }) by the holding instance resolves false', async () => {
      const lock = f.make();
      expect(await lock.acquire()).toBe(true);
      const fence = lock.fence;
      expect(await lock.acquire({ blocking: false })).toBe(false);
      expect(lock.fence).toBe(fence);
      await lock.release();
      expect(await lock.locked()).toBe(false);
      await expect(lock.release()).rejects.toThrow(/release unlocked lock/);
    });

    it('a second acquire({ timeout: 100 }) by the holding instance resolves false after the timeout', async () => {
      const lock = f.make();
      await lock.acquire();
      const started = performance.now();
      expect(await lock.acquire({ timeout: 100 })).toBe(false);
      expect(performance.now() - started).toBeGreaterThanOrEqual(95);
      expect(await lock.locked()).toBe(true);
      expect(lock.signal?.aborted).toBe(false);
      await lock.release();
      expect(await lock.locked()).toBe(false);
    });

    it('a second blocking acquire by the holder waits until the lock is released, then holds anew', async () => {
      const lock = f.make();
      await lock.acquire();
      const first = lock.fence as number;
      const second = lock.acquire();
      expect(await settledWithin(second, 150)).toBe(false);
      await lock.release();
      expect(await second).toBe(true);
      expect(lock.fence).toBeGreaterThan(first);
      await lock.release();
      expect(await lock.locked()).toBe(false);
    });

    it('two withLock calls on one instance run one after the other', async () => {
      const lock = f.make();
      const spans: { start: number; end: number }[] = [];
      const critical = async (): Promise<number> => {
        const start = performance.now();
        await sleep(150);
        spans.push({ start, end: performance.now() });
        return spans.length;
      };
      expect(await Promise.all([lock.withLock(critical), lock.withLock(critical)])).toEqual([1, 2]);
      const [first, second] = spans as [{ start: number; end: number }, { start: number; end: number }];
      expect(second.start, 'the second began once the first had ended').toBeGreaterThanOrEqual(first.end);
      expect(await lock.locked()).toBe(false);
    });
  });
}
