/**
 * RedisSemaphore: the instance's accounting (several grants, `held`, partial
 * releases), the limit (stored one wins, setLimit for everyone), and bad
 * input rejected before any Redis I/O. Its behaviour as a lock (limit 1) is
 * the conformance suite's (redis-semaphore.conformance.spec.ts).
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { LockError, NotOwnerError, RedisSemaphore, semaphore$, type RedisSemaphoreOptions } from '../../src/index';
import { TrackedSemaphore } from '../support/tracked-semaphore';
import { commandCalls, newCalls, settledWithin, sleep, useFacadeFixture } from './facade-fixture';

const fx = useFacadeFixture();

/** An instance the fixture tracks (and frees after a failed test). */
function semaphore(options?: RedisSemaphoreOptions, name = 'pool'): RedisSemaphore {
  return fx.lock(TrackedSemaphore, options as never, name);
}

describe('RedisSemaphore: accounting', () => {
  it('an instance holds several grants; held is their sum; available counts everyone', async () => {
    const sem = semaphore({ limit: 5 });
    const other = semaphore();
    expect(await sem.acquire({ permits: 2 })).toBe(true);
    expect(await sem.acquire()).toBe(true);
    expect(await other.acquire({ permits: 2 })).toBe(true);
    expect([sem.held, other.held, await sem.available(), await other.locked()]).toEqual([3, 2, 0, true]);
    expect(await sem.acquire({ blocking: false })).toBe(false);
    await other.release({ permits: 2 });
    expect(await sem.available()).toBe(2);
    await sem.release({ permits: 3 });
    expect([sem.held, await sem.available(), sem.fence, sem.signal]).toEqual([0, 5, undefined, undefined]);
  });

  it('release({ permits }) gives back the newest grant first; a larger grant keeps the rest with its fence and lease', async () => {
    const sem = semaphore({ limit: 5, lease: 300 });
    await sem.acquire({ permits: 3 });
    const firstFence = sem.fence;
    const firstSignal = sem.signal;
    await sem.acquire({ permits: 1 });
    await sem.release({ permits: 2 });
    expect([sem.held, sem.fence, await sem.available()]).toEqual([2, firstFence, 3]);
    // The shrunk grant is still renewed: well past its first lease it still holds.
    await sleep(500);
    expect([sem.held, firstSignal?.aborted, await sem.available()]).toEqual([2, false, 3]);
    await sem.release({ permits: 2 });
    expect(firstSignal?.aborted).toBe(true);
    expect(await sem.available()).toBe(5);
  });

  it('releasing more than held rejects with NotOwnerError and changes nothing', async () => {
    const sem = semaphore({ limit: 3 });
    const other = semaphore();
    await expect(sem.release()).rejects.toThrow(/release unlocked lock/);
    await sem.acquire();
    const error = await sem.release({ permits: 2 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(NotOwnerError);
    expect((error as NotOwnerError).heldByOther).toBe(true);
    expect([sem.held, await sem.available()]).toEqual([1, 2]);
    await expect(other.release()).rejects.toThrow(/cannot release un-acquired lock/);
    await sem.release();
  });

  it('withLock takes its permits, runs fn and gives back exactly that grant', async () => {
    const sem = semaphore({ limit: 4 });
    await sem.acquire();
    const seen = await sem.withLock(async (signal) => [signal.aborted, sem.held, await sem.available()], { permits: 2 });
    expect(seen).toEqual([false, 3, 1]);
    expect(sem.held).toBe(1);
    await sem.release();
  });

  it('await using gives back every permit the instance holds', async () => {
    const probe = semaphore({ limit: 3 });
    {
      await using sem = semaphore({ limit: 3 });
      await sem.acquire({ permits: 2 });
      await sem.acquire();
      expect(await probe.available()).toBe(0);
    }
    expect(await probe.available()).toBe(3);
  });
});

describe('RedisSemaphore: the limit', () => {
  it('setLimit lowers it for everyone: holders keep their permits, new grants wait until the total is below it', async () => {
    const holder = semaphore({ limit: 3 });
    const admin = semaphore();
    const waiter = semaphore();
    await holder.acquire({ permits: 3 });
    await admin.setLimit(2);
    expect([holder.held, holder.signal?.aborted, await admin.available()]).toEqual([3, false, 0]);
    const waiting = waiter.acquire();
    await holder.release();
    expect(await settledWithin(waiting, 200), 'held 2 of a limit of 2: still nothing free').toBe(false);
    await holder.release();
    expect(await waiting).toBe(true);
    await Promise.all([holder.release(), waiter.release()]);
  });

  it('instances passing the old limit reject until they pass the new one or none; setLimit adopts it for its caller', async () => {
    const first = semaphore({ limit: 2 });
    const stale = semaphore({ limit: 2 });
    await first.acquire();
    await first.setLimit(4);
    const error = await stale.acquire().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LockError);
    expect((error as Error).message).toMatch(/limit 2.*stored in Redis is 4/);
    expect(await first.acquire({ permits: 3 })).toBe(true);
    await first.release({ permits: 4 });
  });

  it('a raised limit lets a waiter in at once; a request above the stored limit rejects with RangeError', async () => {
    const holder = semaphore({ limit: 1 });
    const waiter = semaphore();
    await holder.acquire();
    await expect(waiter.acquire({ permits: 2 })).rejects.toThrow(RangeError);
    const waiting = waiter.acquire();
    expect(await settledWithin(waiting, 50)).toBe(false);
    await holder.setLimit(3);
    expect(await settledWithin(waiting, 1_000)).toBe(true);
    expect(await waiting).toBe(true);
    await Promise.all([holder.release(), waiter.release()]);
  });

  it('available() with no limit stored or passed rejects with a LockError that says to pass one', async () => {
    await expect(semaphore({}, 'unset').available()).rejects.toThrow(/no limit stored.*pass one/);
    expect(await semaphore({ limit: 7 }, 'unset').available()).toBe(7);
  });
});

describe('RedisSemaphore and semaphore$: bad input', () => {
  it('is rejected with TypeError or RangeError before any Redis I/O', async () => {
    const server = await fx.privateServer();
    const counter = new Redis(server.url);
    const before = await commandCalls(counter);
    const redis = server.url;
    const ctor = (options: unknown): unknown => new RedisSemaphore('pool', { redis, ...(options as object) });
    const cases: [string, () => unknown, ErrorConstructor, RegExp][] = [
      ['limit 0', () => ctor({ limit: 0 }), RangeError, /limit must be at least 1/],
      ['limit 1.5', () => ctor({ limit: 1.5 }), RangeError, /whole number/],
      ['limit NaN', () => ctor({ limit: Number.NaN }), RangeError, /whole number/],
      ["limit '3'", () => ctor({ limit: '3' }), TypeError, /limit must be a number/],
      ['a typo', () => ctor({ limt: 3 }), TypeError, /did you mean 'limit'/],
      ['setLimit(0)', () => new RedisSemaphore('pool', { redis }).setLimit(0), RangeError, /at least 1/],
      ['permits 0', () => new RedisSemaphore('pool', { redis }).acquire({ permits: 0 }), RangeError, /permits must be at least 1/],
      ['permits 2.5', () => new RedisSemaphore('pool', { redis }).acquire({ permits: 2.5 }), RangeError, /whole number/],
      ['permits > limit', () => new RedisSemaphore('pool', { redis, limit: 2 }).acquire({ permits: 3 }), RangeError, /must not exceed the limit \(2\)/],
      ['permit (typo)', () => new RedisSemaphore('pool', { redis }).acquire({ permit: 2 } as never), TypeError, /did you mean 'permits'/],
      ['a boolean', () => new RedisSemaphore('pool', { redis }).acquire(false as never), TypeError, /acquire\(\{ blocking: false \}\)/],
      ['blocking + timeout', () => new RedisSemaphore('pool', { redis }).acquire({ blocking: false, timeout: 5 }), RangeError, /non-blocking/],
      ['release 0 permits', () => new RedisSemaphore('pool', { redis }).release({ permits: 0 }), RangeError, /at least 1/],
      ['semaphore$ mode', () => semaphore$('pool', { redis, mode: 'read' } as never), TypeError, /unknown option 'mode'/],
      ['semaphore$ permits > limit', () => semaphore$('pool', { redis, limit: 1, permits: 2 }), RangeError, /must not exceed/],
      ['semaphore$ limit -1', () => semaphore$('pool', { redis, limit: -1 }), RangeError, /at least 1/],
      ['semaphore$ name', () => semaphore$('', { redis, limit: 1 }), RangeError, /^semaphore name must not be empty/],
    ];
    for (const [what, run, type, message] of cases) {
      let error: unknown;
      try {
        await run();
      } catch (e) {
        error = e;
      }
      expect(error, what).toBeInstanceOf(type);
      expect((error as Error).message, what).toMatch(message);
    }
    expect(newCalls(before, await commandCalls(counter)), 'commands the bad calls sent').toEqual({});
    expect(diagnostics).toEqual({ connectionUsers: 0, ownedClients: 0, channels: 0, waitQueues: 0 });
    counter.disconnect();
  });
});
