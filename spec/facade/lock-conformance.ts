/**
 * The conformance suite of the promise facade, in the manner of async-mutex:
 * the behaviour every lock class shares, written once and run against each
 * class (redis-lock.spec.ts, redis-rlock.spec.ts). The cases follow CPython's
 * Lib/test/lock_tests.py (BaseLockTests), translated to distributed locks:
 * "threads" are lock instances, and ownership belongs to the instance. The
 * life of a hold (signal, withLock, dispose, loss) is in hold-conformance.ts.
 */
import { describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { LockError, NotOwnerError } from '../../src/index';
import { settledWithin, sleep, type FacadeFixture, type FacadeLockClass } from './facade-fixture';
import { holdConformance } from './hold-conformance';

export interface ConformanceTarget {
  /** The class under test. */
  readonly Lock: FacadeLockClass;
  /** Another class guarding the same resource for the same name and prefix. */
  readonly Other: FacadeLockClass;
}

/** Registers the whole shared suite for `target`. */
export function lockConformance(fx: FacadeFixture, target: ConformanceTarget): void {
  const { Lock, Other } = target;
  describe(`${Lock.name} conformance`, () => {
    it('constructs without any Redis I/O, even for an unreachable server', () => {
      const unreachable = [
        new Lock('no-io', { redis: 'redis://127.0.0.1:1/0' }),
        new Lock('no-io', { host: '192.0.2.1', port: 6390, password: 'x', db: 3 }),
      ];
      expect(unreachable.map((lock) => [lock.name, lock.fence, lock.signal])).toEqual([
        ['no-io', undefined, undefined],
        ['no-io', undefined, undefined],
      ]);
      expect(diagnostics).toEqual({ connectionUsers: 0, ownedClients: 0, channels: 0, waitQueues: 0 });
    });

    it('acquire resolves true and holds; release frees it and ends the hold', async () => {
      const lock = fx.lock(Lock, { redis: fx.redis.url });
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

    it("release of an unacquired lock rejects NotOwnerError 'release unlocked lock'", async () => {
      const lock = fx.lock(Lock);
      const error = await lock.release().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotOwnerError);
      expect(error).toBeInstanceOf(LockError);
      expect((error as Error).message).toContain('release unlocked lock');

      await lock.acquire();
      await lock.release();
      await expect(lock.release()).rejects.toThrow(/release unlocked lock/);
    });

    it("release by another owner rejects NotOwnerError 'cannot release un-acquired lock' and changes nothing", async () => {
      const holder = fx.lock(Lock);
      const other = fx.lock(Lock);
      await holder.acquire();
      const error = await other.release().catch((e: unknown) => e);
      expect(error).toBeInstanceOf(NotOwnerError);
      expect((error as NotOwnerError).heldByOther).toBe(true);
      expect((error as Error).message).toContain('cannot release un-acquired lock');
      expect(await other.locked()).toBe(true);
      expect(holder.signal?.aborted).toBe(false);
      await holder.release();
    });

    it('acquire({ blocking: false }) and acquire({ timeout: 0 }) on a contended lock resolve false at once', async () => {
      const holder = fx.lock(Lock);
      const other = fx.lock(Lock);
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
      const holder = fx.lock(Lock);
      const other = fx.lock(Lock);
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

    it('five instances blocked on one lock all proceed, one at a time, after its release', async () => {
      const holder = fx.lock(Lock);
      await holder.acquire();
      const order: number[] = [];
      let inside = 0;
      let mostInside = 0;
      const waiters = Array.from({ length: 5 }, () => fx.lock(Lock));
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

    it('fence strictly increases across acquisitions, whichever instance or class acquires', async () => {
      const holders = [fx.lock(Lock), fx.lock(Other), fx.lock(Lock)];
      const fences: number[] = [];
      for (const holder of [...holders, ...holders]) {
        await holder.acquire();
        fences.push(holder.fence as number);
        await holder.release();
      }
      for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1] as number);
    });

    it('two instances of one name on one shared ioredis client exclude each other', async () => {
      const client = fx.redis.client();
      const first = fx.lock(Lock, { redis: client });
      const second = fx.lock(Lock, { redis: client });
      await first.acquire();
      expect(await second.acquire({ blocking: false })).toBe(false);
      await expect(second.release()).rejects.toThrow(/cannot release un-acquired lock/);
      await first.release();
      expect(await second.acquire({ blocking: false })).toBe(true);
      expect(await first.acquire({ blocking: false })).toBe(false);
      await second.release();
    });

    it(`${Lock.name} and ${Other.name} of one name exclude each other`, async () => {
      const mine = fx.lock(Lock);
      const theirs = fx.lock(Other);
      await mine.acquire();
      expect(await theirs.acquire({ blocking: false })).toBe(false);
      await expect(theirs.release()).rejects.toThrow(/cannot release un-acquired lock/);
      const waiting = theirs.acquire();
      await mine.release();
      expect(await waiting).toBe(true);
      expect(await mine.acquire({ blocking: false })).toBe(false);
      await theirs.release();
    });

    it('force release frees a lock held by another instance, and resolves on a free lock', async () => {
      const holder = fx.lock(Lock);
      const admin = fx.lock(Lock);
      await expect(admin.release({ force: true })).resolves.toBeUndefined();
      await holder.acquire();
      await admin.release({ force: true });
      expect(await admin.locked()).toBe(false);
      await expect(holder.release()).rejects.toThrow(NotOwnerError);
    });

    it("while one acquire of the instance waits, another's timeout and signal still bound its wait", async () => {
      const holder = fx.lock(Other);
      const lock = fx.lock(Lock);
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
  holdConformance(fx, target);
}
