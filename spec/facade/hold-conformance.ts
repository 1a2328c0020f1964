/**
 * Part of the facade conformance suite (see lock-conformance.ts): the life of
 * a hold. Its signal, withLock (Python's `with lock:`), `await using`, the
 * acquire signal, and how a hold ends without release (force-released
 * elsewhere, a fixed ttl running out).
 */
import { describe, expect, it } from 'vitest';
import { LockLostError, LockTimeoutError, NotOwnerError } from '../../src/index';
import { aborted, sleep, type FacadeFixture } from './facade-fixture';
import type { ConformanceTarget } from './lock-conformance';

export function holdConformance(fx: FacadeFixture, { Lock }: ConformanceTarget): void {
  describe(`${Lock.name} conformance: the life of a hold`, () => {
    it("withLock runs fn with the hold's signal, returns its result and releases", async () => {
      const lock = fx.lock(Lock);
      let seen: AbortSignal | undefined;
      const result = await lock.withLock(async (signal) => {
        seen = signal;
        expect(signal).toBe(lock.signal);
        expect(signal.aborted).toBe(false);
        expect(await lock.locked()).toBe(true);
        return 42;
      });
      expect(result).toBe(42);
      expect(seen?.aborted).toBe(true);
      expect(await lock.locked()).toBe(false);
      expect(lock.fence).toBeUndefined();
    });

    it("withLock releases when fn throws and rejects with fn's error", async () => {
      const lock = fx.lock(Lock);
      const failure = new Error('task failed');
      await expect(
        lock.withLock(() => {
          throw failure;
        }),
      ).rejects.toBe(failure);
      expect(await lock.locked()).toBe(false);
      await expect(lock.withLock(() => Promise.reject(failure))).rejects.toBe(failure);
      expect(await lock.locked()).toBe(false);
    });

    it('withLock rejects LockTimeoutError when its timeout passes, without running fn', async () => {
      const holder = fx.lock(Lock);
      const other = fx.lock(Lock);
      await holder.acquire();
      let ran = false;
      const error = await other.withLock(() => (ran = true), { timeout: 100 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockTimeoutError);
      expect((error as LockTimeoutError).timeout).toBe(100);
      expect(ran).toBe(false);
      await holder.release();
    });

    it('withLock rejects with the LockLostError when the hold was lost while fn ran', async () => {
      const lock = fx.lock(Lock, { lease: 600 });
      const intruder = fx.lock(Lock);
      const outcome = lock.withLock(async (signal) => {
        await intruder.release({ force: true });
        await aborted(signal, 200 + 1000);
        return 'finished unprotected';
      });
      await expect(outcome).rejects.toBeInstanceOf(LockLostError);
      expect(lock.fence).toBeUndefined();
    });

    it('await using (Symbol.asyncDispose) releases the hold when the scope ends', async () => {
      const probe = fx.lock(Lock);
      {
        await using lock = fx.lock(Lock);
        await lock.acquire();
        expect(await probe.locked()).toBe(true);
      }
      expect(await probe.locked()).toBe(false);
      await expect(probe[Symbol.asyncDispose]()).resolves.toBeUndefined();
    });

    it("aborting acquire's signal while it waits rejects with signal.reason and leaves nothing held", async () => {
      const holder = fx.lock(Lock);
      const other = fx.lock(Lock);
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

    it('a fixed ttl hold ends by itself: the signal aborts with LockLostError (expired)', async () => {
      const ttl = 300;
      const lock = fx.lock(Lock, { ttl });
      const other = fx.lock(Lock);
      // yadl counts a hold from when it sent the command (README, "The holder hears first"), so a slow
      // reply shortens what is left of it after acquire resolves: measure from the call.
      const started = performance.now();
      await lock.acquire();
      const reason = await aborted(lock.signal as AbortSignal, ttl + 1000);
      expect(performance.now() - started).toBeGreaterThanOrEqual(ttl - 50);
      expect((reason as LockLostError).reason).toBe('expired');
      expect(lock.fence).toBeUndefined();
      await expect(lock.release()).rejects.toThrow(NotOwnerError);
      expect(await other.acquire({ timeout: 1000 })).toBe(true);
      await other.release();
    });

    it("aborting acquire's signal after the acquisition leaves the hold alone", async () => {
      // The signal bounds the wait (facade-options.ts), e.g. acquire({ signal: AbortSignal.timeout(5000) }).
      const lock = fx.lock(Lock);
      const controller = new AbortController();
      expect(await lock.acquire({ signal: controller.signal })).toBe(true);
      const fence = lock.fence;
      controller.abort(new Error('the wait is long over'));
      await sleep(50);
      expect([lock.fence, lock.signal?.aborted], 'still held after the late abort: [fence, signal.aborted]').toEqual([fence, false]);
      expect(await lock.locked()).toBe(true);
      await lock.release();
    });

    it('a lost hold (force-released elsewhere) aborts the signal with LockLostError and forgets the hold', async () => {
      const lease = 600;
      const holder = fx.lock(Lock, { lease });
      const other = fx.lock(Lock);
      await holder.acquire();
      const signal = holder.signal as AbortSignal;
      await other.release({ force: true });
      const reason = await aborted(signal, lease / 3 + 1000);
      expect(reason).toBeInstanceOf(LockLostError);
      expect((reason as LockLostError).reason).toBe('gone');
      expect([holder.fence, holder.signal]).toEqual([undefined, undefined]);
      await expect(holder.release()).rejects.toThrow(NotOwnerError);

      expect(await holder.acquire({ blocking: false })).toBe(true);
      await holder.release();
    });
  });
}
