/**
 * Conformance, reentrancy, for a reentrant kind: as CPython's
 * lock_tests.RLockTests has it, n acquires need n releases, per instance.
 * Re-entries are counted in the instance, without a Redis round trip.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { LockLostError, NotOwnerError } from '../../../src/index';
import { aborted, commandCalls, newCalls } from '../facade-fixture';
import { rival, type LockFactory } from './factory';

export function reentrancy(f: LockFactory): void {
  describe('reentrancy', () => {
    it('acquired three times, it needs three releases; only then can another instance acquire', async () => {
      const lock = f.make();
      const other = rival(f);
      for (let i = 0; i < 3; i++) expect(await lock.acquire()).toBe(true);
      const fence = lock.fence;
      for (let i = 0; i < 2; i++) {
        await lock.release();
        expect(await other.acquire({ blocking: false })).toBe(false);
        expect(lock.fence).toBe(fence);
      }
      await lock.release();
      expect(lock.fence).toBeUndefined();
      const error = await lock.release().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotOwnerError);
      expect((error as Error).message).toContain('release unlocked lock');
      expect(await other.acquire({ blocking: false })).toBe(true);
      await other.release();
    });

    it('the holder re-enters at once with blocking: false or a timeout', async () => {
      const lock = f.make();
      expect(await lock.acquire({ blocking: false })).toBe(true);
      const started = performance.now();
      expect(await lock.acquire({ blocking: false })).toBe(true);
      expect(await lock.acquire({ timeout: 0 })).toBe(true);
      expect(await lock.acquire({ timeout: 5_000 })).toBe(true);
      expect(performance.now() - started).toBeLessThan(500);
      for (let i = 0; i < 4; i++) await lock.release();
      expect(await lock.locked()).toBe(false);
    });

    it('concurrent acquires of one free instance both succeed, as one hold of depth two', async () => {
      const lock = f.make();
      const other = f.makeOther();
      expect(await Promise.all([lock.acquire(), lock.acquire()])).toEqual([true, true]);
      await lock.release();
      expect(await other.acquire({ blocking: false })).toBe(false);
      await lock.release();
      expect(await other.locked()).toBe(false);
    });

    const { privateServer } = f.site;
    // Only where the site can start a server of the test's own (the shared one has other files' traffic).
    if (privateServer !== undefined) {
      it('re-entering and the inner releases send no Redis command', async () => {
        const server = await privateServer();
        // A server of its own: on the shared one, other files' traffic would be counted too.
        const counter = new Redis(server.url);
        try {
          const lock = f.make({ redis: server.url });
          await lock.acquire();
          const before = await commandCalls(counter);
          await lock.acquire();
          await lock.acquire({ blocking: false });
          await lock.acquire({ timeout: 100 });
          await lock.release();
          await lock.release();
          await lock.release();
          const reentered = await commandCalls(counter);
          // CONFIG belongs to the first acquisition's notification check, which may finish late.
          expect(newCalls(before, reentered, ['info', 'config'])).toEqual({});
          await lock.release();
          const released = newCalls(reentered, await commandCalls(counter), ['info', 'config']);
          expect((released.evalsha ?? 0) + (released.eval ?? 0)).toBeGreaterThan(0);
        } finally {
          await counter.quit();
        }
      });
    }

    it('a lost hold forgets every level of it: fence, signal and the count', async () => {
      const lock = f.make({ lease: 300 });
      const other = rival(f);
      await lock.acquire();
      await lock.acquire();
      const signal = lock.signal as AbortSignal;
      await other.release({ force: true });
      expect(await aborted(signal, 100 + 1000)).toBeInstanceOf(LockLostError);
      expect([lock.fence, lock.signal]).toEqual([undefined, undefined]);
      await expect(lock.release()).rejects.toThrow(NotOwnerError);

      expect(await lock.acquire()).toBe(true);
      await lock.release();
      expect(await lock.locked()).toBe(false);
    });

    it('Symbol.asyncDispose releases the hold whatever its depth', async () => {
      const probe = f.makeOther();
      {
        await using lock = f.make();
        await lock.acquire();
        await lock.acquire();
        await lock.acquire();
      }
      expect(await probe.locked()).toBe(false);
    });

    it('withLock nests on one instance (it would wait forever on a kind that is not reentrant)', async () => {
      const lock = f.make();
      const result = await lock.withLock(() => lock.withLock(() => lock.withLock(async () => lock.locked())));
      expect(result).toBe(true);
      expect(await lock.locked()).toBe(false);
    });
  });
}
