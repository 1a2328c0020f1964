/**
 * Conformance, holding: the life of one hold. Acquire and release, its fence
 * and signal, withLock (Python's `with lock:`), `await using`, and how a hold
 * ends without release (force-released elsewhere, a fixed ttl running out).
 * Runs for every kind.
 */
import { describe, expect, it } from 'vitest';
import { diagnostics } from '../../../src/diagnostics';
import { LockLostError, LockTimeoutError, NotOwnerError } from '../../../src/index';
import { waitFor } from '../../core/holding';
import { aborted, sleep } from '../facade-fixture';
import { rival, type LockFactory } from './factory';

export function holding(f: LockFactory): void {
  describe('holding', () => {
    it('constructs without any Redis I/O, even for an unreachable server', () => {
      const unreachable = [
        f.make({ redis: 'redis://127.0.0.1:1/0' }, 'no-io'),
        f.make({ host: '192.0.2.1', port: 6390, password: 'x', db: 3 }, 'no-io'),
      ];
      expect(unreachable.map((lock) => [lock.name, lock.fence, lock.signal])).toEqual([
        ['no-io', undefined, undefined],
        ['no-io', undefined, undefined],
      ]);
      expect(diagnostics).toEqual({ connectionUsers: 0, ownedClients: 0, channels: 0, waitQueues: 0 });
    });

    it('acquire resolves true and holds; release frees it and ends the hold', async () => {
      // A connection yadl opens itself, where every other test shares the test's client.
      const lock = f.make({ redis: f.site.ownSource() });
      expect(await lock.locked()).toBe(false);
      expect(await lock.acquire()).toBe(true);
      expect(await lock.locked()).toBe(true);
      expect(lock.fence).toEqual(expect.any(Number));
      const signal = lock.signal;
      expect(signal).toBeInstanceOf(AbortSignal);
      expect(signal?.aborted).toBe(false);

      await lock.release();
      expect(await lock.locked()).toBe(false);
      expect([lock.fence, lock.signal]).toEqual([undefined, undefined]);
      expect(signal?.aborted).toBe(true);
    });

    it('fence strictly increases across acquisitions, whichever instance or class acquires', async () => {
      const holders = [f.make(), f.makeOther(), f.make()];
      const fences: number[] = [];
      for (const holder of [...holders, ...holders]) {
        await holder.acquire();
        fences.push(holder.fence as number);
        await holder.release();
      }
      for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1] as number);
    });

    it("withLock runs fn with the hold's signal, returns its result and releases", async () => {
      const lock = f.make();
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
      const lock = f.make();
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
      const holder = rival(f);
      const other = f.make();
      await holder.acquire();
      let ran = false;
      const error = await other.withLock(() => (ran = true), { timeout: 100 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockTimeoutError);
      expect((error as LockTimeoutError).timeout).toBe(100);
      expect(ran).toBe(false);
      await holder.release();
    });

    it('withLock rejects with the LockLostError when the hold was lost while fn ran', async () => {
      const lock = f.make({ lease: 600 });
      const intruder = rival(f);
      const outcome = lock.withLock(async (signal) => {
        await intruder.release({ force: true });
        await aborted(signal, 200 + 1000);
        return 'finished unprotected';
      });
      await expect(outcome).rejects.toBeInstanceOf(LockLostError);
      expect(lock.fence).toBeUndefined();
    });

    // Regression 9.3 (see redis-read-lock.spec.ts): once for every class it was seen in, now for every kind.
    it("withLock rejects with LockLostError ('released') when the instance is released from elsewhere while fn runs", async () => {
      const lock = f.make();
      const result = lock.withLock(async () => {
        await sleep(300);
        return 'done';
      });
      await waitFor(() => lock.fence !== undefined, 5_000, 'the lock holding');
      await lock.release();
      await expect(result).rejects.toBeInstanceOf(LockLostError);
      await expect(result).rejects.toMatchObject({ reason: 'released' });
    });

    it('await using (Symbol.asyncDispose) releases the hold when the scope ends', async () => {
      const probe = f.make();
      {
        await using lock = f.make();
        await lock.acquire();
        expect(await probe.locked()).toBe(true);
      }
      expect(await probe.locked()).toBe(false);
      await expect(probe[Symbol.asyncDispose]()).resolves.toBeUndefined();
    });

    it("aborting acquire's signal after the acquisition leaves the hold alone", async () => {
      // The signal bounds the wait (facade-options.ts), e.g. acquire({ signal: AbortSignal.timeout(5000) }).
      const lock = f.make();
      const controller = new AbortController();
      expect(await lock.acquire({ signal: controller.signal })).toBe(true);
      const fence = lock.fence;
      controller.abort(new Error('the wait is long over'));
      await sleep(50);
      expect([lock.fence, lock.signal?.aborted], 'still held after the late abort: [fence, signal.aborted]').toEqual([fence, false]);
      expect(await lock.locked()).toBe(true);
      await lock.release();
    });

    it('a fixed ttl hold ends by itself: the signal aborts with LockLostError (expired)', async () => {
      const ttl = 300;
      const lock = f.make({ ttl });
      const other = rival(f);
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

    it('a lost hold (force-released elsewhere) aborts the signal with LockLostError and forgets the hold', async () => {
      const lease = 600;
      const holder = f.make({ lease });
      const other = rival(f);
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
