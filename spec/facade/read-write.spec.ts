/**
 * Read/write locks by example: PyYADL's README examples, then each rule of
 * the read/write issue (exclusion, sharing, writer preference, wake-ups,
 * per-reader leases, release and force, fences), on the shared test Redis.
 * Timing bounds are generous: where ~5 ms is expected they allow 200.
 */
import { lock$, LockLostError, LockTimeoutError, NotOwnerError, RedisLock, RedisReadLock, RedisWriteLock } from '../../src/index';
import type { LockMode } from '../../src/index';
import { describe, expect, it } from 'vitest';
import { rejection, settledWithin, sleep, useRwFixture, writeOverlaps, WRITER_CLASSES, type Interval, type LockClass } from './read-write-model';

const fx = useRwFixture();

/** One lock$ attempt (timeout 0): whether it acquired; releases at once if it did. */
function lockOnce(mode: LockMode): Promise<number | false> {
  return new Promise((resolve, reject) => {
    const subscription = lock$('resource', { mode, prefix: fx.prefix(), redis: fx.client(), timeout: 0 }).subscribe({
      next: (lease) => {
        setImmediate(() => subscription.unsubscribe());
        resolve(lease.fence);
      },
      error: (error: unknown) => (error instanceof LockTimeoutError ? resolve(false) : reject(error as Error)),
    });
  });
}

describe('PyYADL README: Read and Write locks', () => {
  it("RedisWriteLock('test_lock').acquire(blocking=True, timeout=20): acquires, the equivalent of RedisLock", async () => {
    const lock = fx.lock(RedisWriteLock, {}, 'test_lock');
    expect(await lock.acquire({ timeout: 20_000 })).toBe(true);
    expect(await fx.lock(RedisLock, {}, 'test_lock').acquire({ blocking: false })).toBe(false);
    await lock.release();
    expect(await lock.locked()).toBe(false);
  });

  it('two RedisReadLocks of test_lock both acquire', async () => {
    const [lock1, lock2] = [fx.lock(RedisReadLock, {}, 'test_lock'), fx.lock(RedisReadLock, {}, 'test_lock')];
    expect([await lock1.acquire(), await lock2.acquire()]).toEqual([true, true]);
    expect((await fx.state('test_lock')).readers.map((r) => r.fence).sort()).toEqual([lock1.fence, lock2.fence].sort());
    await Promise.all([lock1.release(), lock2.release()]);
  });

  it('lock1, lock2 readers then lock3 writer: only lock1 and lock2 acquire (lock3 waits for them)', async () => {
    const [lock1, lock2] = [fx.lock(RedisReadLock, {}, 'test_lock'), fx.lock(RedisReadLock, {}, 'test_lock')];
    const lock3 = fx.lock(RedisWriteLock, {}, 'test_lock');
    expect([await lock1.acquire(), await lock2.acquire()]).toEqual([true, true]);
    const third = lock3.acquire();
    expect(await settledWithin(third, 200)).toBe(false);
    expect(await lock3.acquire({ blocking: false }).catch(() => 'n/a')).toBe(false);
    await Promise.all([lock1.release(), lock2.release()]);
    expect(await third).toBe(true);
    await lock3.release();
  });

  it('lock1 writer then lock2 reader: only lock1 acquires (lock2 waits for it)', async () => {
    const [lock1, lock2] = [fx.lock(RedisWriteLock, {}, 'test_lock'), fx.lock(RedisReadLock, {}, 'test_lock')];
    expect(await lock1.acquire()).toBe(true);
    const second = lock2.acquire();
    expect(await settledWithin(second, 200)).toBe(false);
    await lock1.release();
    expect(await second).toBe(true);
    await lock2.release();
  });
});

describe('exclusion and sharing', () => {
  it('RedisWriteLock, RedisLock, RedisRLock and lock$ write/exclusive are one lock: each excludes the others and every reader', async () => {
    for (const Holder of WRITER_CLASSES) {
      const holder = fx.lock(Holder);
      expect(await holder.acquire()).toBe(true);
      for (const Other of [...WRITER_CLASSES, RedisReadLock]) {
        expect(await fx.lock(Other).acquire({ blocking: false }), `${Holder.name} held, ${Other.name}`).toBe(false);
      }
      expect([await lockOnce('write'), await lockOnce('exclusive'), await lockOnce('read')]).toEqual([false, false, false]);
      await holder.release();
    }
  });

  it('readers share the name; a reader blocks every writer kind, a writer blocks readers', async () => {
    const readers = [fx.lock(RedisReadLock), fx.lock(RedisReadLock)];
    expect(await Promise.all(readers.map((r) => r.acquire()))).toEqual([true, true]);
    expect(await lockOnce('read')).toEqual(expect.any(Number));
    for (const Writer of WRITER_CLASSES) expect(await fx.lock(Writer).acquire({ timeout: 50 })).toBe(false);
    expect([await lockOnce('write'), await lockOnce('exclusive')]).toEqual([false, false]);
    await Promise.all(readers.map((r) => r.release()));
    const writer = fx.lock(RedisWriteLock);
    expect(await writer.acquire({ blocking: false })).toBe(true);
    expect(await readers[0]?.acquire({ timeout: 50 })).toBe(false);
    expect(await lockOnce('read')).toBe(false);
    await writer.release();
  });
});

describe('writer preference and wake-ups', () => {
  it('a writer waiting behind a continuous stream of overlapping readers (40-70 ms each, one every 10 ms) gets in within 500 ms; later readers queue behind it', async () => {
    const readerClient = fx.redis.client();
    const reads: Array<Interval & { asked: number }> = [];
    const reader = async (k: number): Promise<void> => {
      const lock = fx.lock(RedisReadLock, { redis: readerClient });
      const asked = performance.now();
      await lock.acquire();
      const start = performance.now();
      await sleep(40 + ((k * 7) % 31));
      reads.push({ who: `r${k}`, mode: 'read', asked, start, end: performance.now() });
      await lock.release();
    };
    let markSeen = Infinity;
    const writer = async (): Promise<Interval & { asked: number }> => {
      await sleep(200);
      while ((await fx.state()).readers.length < 2); // the stream is flowing
      const lock = fx.lock(RedisWriteLock);
      const asked = performance.now();
      const acquiring = lock.acquire();
      while (!(await settledWithin(acquiring, 0)) && markSeen === Infinity) {
        if ((await fx.state()).marks.length > 0) markSeen = performance.now();
      }
      await acquiring;
      const start = performance.now();
      await sleep(20);
      const end = performance.now();
      await lock.release();
      return { who: 'writer', mode: 'write', asked, start, end };
    };
    const streamStart = performance.now();
    const writing = writer();
    const readings: Promise<void>[] = [];
    for (let k = 0; performance.now() - streamStart < 1_500; k++) {
      readings.push(reader(k));
      await sleep(10);
    }
    const [write] = await Promise.all([writing, ...readings]);
    expect(write.start - write.asked, 'writer waited').toBeLessThan(500);
    expect(markSeen, 'the writer found readers holding and left its mark').toBeLessThan(Infinity);
    // Readers that came once the writer's mark was in Redis.
    const queued = reads.filter((r) => r.asked > markSeen && r.asked < write.start);
    expect(queued.length).toBeGreaterThan(0);
    expect(queued.filter((r) => r.start < write.end), 'readers that overtook the waiting writer').toEqual([]);
    expect(reads.some((r) => r.start > write.end), 'the stream went on after the writer').toBe(true);
    expect(writeOverlaps([write, ...reads])).toEqual([]);
  });

  it('when a writer releases, all waiting readers proceed together', async () => {
    const writer = fx.lock(RedisWriteLock);
    await writer.acquire();
    const clients = [fx.client(), fx.redis.client()];
    const readers = Array.from({ length: 6 }, (_, k) => fx.lock(RedisReadLock, { redis: clients[k % 2] }));
    const acquiredAt: number[] = [];
    const waits = readers.map((r) => r.acquire().then((ok) => (acquiredAt.push(performance.now()), ok)));
    await sleep(150);
    expect(acquiredAt).toEqual([]);
    const releasedAt = performance.now();
    await writer.release();
    expect(await Promise.all(waits)).toEqual(readers.map(() => true));
    expect(Math.max(...acquiredAt) - releasedAt).toBeLessThan(1_000);
    expect(Math.max(...acquiredAt) - Math.min(...acquiredAt)).toBeLessThan(500);
    expect((await fx.state()).readers).toHaveLength(6);
    await Promise.all(readers.map((r) => r.release()));
  });

  it('the last reader leaving wakes a waiting writer at once (leases of 30 s: not the deadline)', async () => {
    const readers = [fx.lock(RedisReadLock), fx.lock(RedisReadLock)];
    await Promise.all(readers.map((r) => r.acquire()));
    const writer = fx.lock(RedisWriteLock);
    const waiting = writer.acquire();
    await readers[0]?.release();
    expect(await settledWithin(waiting, 150)).toBe(false);
    const lastLeft = performance.now();
    await readers[1]?.release();
    expect(await waiting).toBe(true);
    expect(performance.now() - lastLeft).toBeLessThan(200);
    await writer.release();
  });

  it('a single attempt (blocking: false, lock$ timeout 0) leaves no mark: readers still get in', async () => {
    const [reader, later] = [fx.lock(RedisReadLock), fx.lock(RedisReadLock)];
    await reader.acquire();
    expect(await fx.lock(RedisWriteLock).acquire({ blocking: false })).toBe(false);
    expect(await lockOnce('write')).toBe(false);
    expect((await fx.state()).marks).toEqual([]);
    expect(await later.acquire({ blocking: false })).toBe(true);
    await Promise.all([reader.release(), later.release()]);
  });

  it.each(['timeout', 'abort', 'unsubscribe'] as const)('a waiting writer that stops waiting (%s) lets the readers queued behind it in at once', async (how) => {
    const holder = fx.lock(RedisReadLock);
    await holder.acquire();
    const controller = new AbortController();
    const writer = fx.lock(RedisWriteLock);
    const gaveUp =
      how === 'unsubscribe'
        ? new Promise((resolve) => {
            const subscription = fx.track(lock$('resource', { mode: 'write', prefix: fx.prefix(), redis: fx.client() }).subscribe());
            setTimeout(() => resolve(subscription.unsubscribe()), 800);
          })
        : rejection(writer.acquire(how === 'timeout' ? { timeout: 800 } : { signal: controller.signal }));
    if (how === 'abort') setTimeout(() => controller.abort(new Error('stop')), 800); // long enough for the checks below on a loaded machine
    await sleep(50);
    expect((await fx.state()).marks).toHaveLength(1);
    const queuedReader = fx.lock(RedisReadLock);
    const reading = queuedReader.acquire();
    expect(await settledWithin(reading, 100)).toBe(false);
    const outcome = await gaveUp;
    const gaveUpAt = performance.now();
    if (how === 'timeout') expect(outcome).toBe('resolved');
    if (how === 'abort') expect(outcome).toEqual(new Error('stop'));
    expect(await reading).toBe(true);
    expect(performance.now() - gaveUpAt).toBeLessThan(200);
    await Promise.all([holder.release(), queuedReader.release()]);
  });
});

describe('leases, release, force and fences', () => {
  it("a reader's short ttl ends its hold alone; a ttl-less reader is renewed and keeps the writer out", async () => {
    const short = fx.lock(RedisReadLock, { ttl: 300 });
    const renewed = fx.lock(RedisReadLock, { lease: 300 });
    await Promise.all([short.acquire(), renewed.acquire()]);
    const [shortSignal, renewedSignal] = [short.signal, renewed.signal];
    const writer = fx.lock(RedisWriteLock);
    const waiting = writer.acquire();
    await sleep(700);
    expect(shortSignal?.reason).toEqual(expect.objectContaining({ name: 'LockLostError', reason: 'expired' }));
    expect([short.fence, renewedSignal?.aborted]).toEqual([undefined, false]);
    expect((await fx.state()).readers.map((r) => r.fence)).toEqual([renewed.fence]);
    expect(await settledWithin(waiting, 1)).toBe(false);
    const left = performance.now();
    await renewed.release();
    expect(await waiting).toBe(true);
    expect(performance.now() - left).toBeLessThan(200);
    await writer.release();
  });

  it('a reader releases only its own hold; release() of a reader that holds nothing rejects NotOwnerError', async () => {
    const [r1, r2] = [fx.lock(RedisReadLock), fx.lock(RedisReadLock)];
    await r1.acquire();
    expect(await rejection(r2.release())).toEqual(expect.objectContaining({ name: 'NotOwnerError', heldByOther: true }));
    await r2.acquire();
    await r1.release();
    expect((await fx.state()).readers.map((r) => r.fence)).toEqual([r2.fence]);
    expect(await rejection(r1.release())).toEqual(new NotOwnerError('resource', true));
    await r2.release();
    expect(await rejection(r2.release())).toEqual(new NotOwnerError('resource', false));
  });

  it('RedisWriteLock.release({ force: true }) frees the name from every holder, readers included; they learn it at renewal', async () => {
    const readers = [fx.lock(RedisReadLock, { lease: 300 }), fx.lock(RedisReadLock, { lease: 300 })];
    await Promise.all(readers.map((r) => r.acquire()));
    const signals = readers.map((r) => r.signal);
    await fx.lock(RedisWriteLock).release({ force: true });
    expect((await fx.state()).exists).toBe(false);
    const writer = fx.lock(RedisWriteLock);
    expect(await writer.acquire({ blocking: false })).toBe(true);
    await sleep(300);
    expect(signals.map((s) => s?.reason)).toEqual([new LockLostError('resource', 'gone'), new LockLostError('resource', 'gone')]);
    expect(readers.map((r) => r.fence)).toEqual([undefined, undefined]);
    await fx.lock(RedisLock).release({ force: true });
    expect(await writer.locked()).toBe(false);
    await expect(writer.release()).rejects.toThrow(NotOwnerError);
  });

  it('RedisReadLock.release({ force: true }) releases only its own hold, and rejects NotOwnerError when it holds nothing', async () => {
    const [r1, r2] = [fx.lock(RedisReadLock), fx.lock(RedisReadLock)];
    await Promise.all([r1.acquire(), r2.acquire()]);
    await r1.release({ force: true });
    expect((await fx.state()).readers.map((r) => r.fence)).toEqual([r2.fence]);
    expect(await rejection(r1.release({ force: true }))).toEqual(new NotOwnerError('resource', true));
    await r2.release();
    const writer = fx.lock(RedisWriteLock);
    await writer.acquire();
    expect(await rejection(r1.release({ force: true }))).toEqual(new NotOwnerError('resource', true));
    expect(await writer.locked()).toBe(true);
    await writer.release();
  });

  it('a second acquire by a holding RedisReadLock waits for its own release, like threading.Lock; so does RedisWriteLock', async () => {
    const reader = fx.lock(RedisReadLock);
    await reader.acquire();
    const first = reader.fence as number;
    expect(await reader.acquire({ blocking: false })).toBe(false);
    expect(await reader.acquire({ timeout: 50 })).toBe(false);
    expect(reader.fence).toBe(first);
    expect((await fx.state()).readers.map((r) => r.fence)).toEqual([first]);
    const second = reader.acquire();
    await sleep(50);
    expect(reader.fence, 'the first hold is untouched while the second acquire waits').toBe(first);
    await reader.release();
    expect(await second).toBe(true);
    expect(reader.fence).toBeGreaterThan(first);
    expect((await fx.state()).readers.map((r) => r.fence)).toEqual([reader.fence]);
    await reader.release();
    expect((await fx.state()).exists).toBe(false);
    const writer = fx.lock(RedisWriteLock);
    await writer.acquire();
    expect(await writer.acquire({ blocking: false })).toBe(false);
    await writer.release();
  });

  it('every acquisition, read or write, takes its fence from one counter: strictly increasing across modes', async () => {
    const fences: number[] = [];
    const [r1, r2] = [fx.lock(RedisReadLock), fx.lock(RedisReadLock)];
    for (const lock of [r1, r2]) {
      await lock.acquire();
      fences.push(lock.fence as number);
    }
    fences.push((await lockOnce('read')) as number);
    await Promise.all([r1.release(), r2.release()]);
    for (const Writer of [...WRITER_CLASSES, RedisReadLock] as LockClass[]) {
      const lock = fx.lock(Writer);
      await lock.acquire();
      fences.push(lock.fence as number);
      await lock.release();
      fences.push((await lockOnce(Writer === RedisLock ? 'exclusive' : 'write')) as number);
      await sleep(5); // lockOnce releases on the next turn
    }
    expect(fences.every((fence, i) => i === 0 || fence > (fences[i - 1] as number)), fences.join(' ')).toBe(true);
  });
});

describe('found while testing', () => {
  it("a waiting writer's mark is gone by the time acquire resolves false, even for a timeout shorter than a round trip", async () => {
    const reader = fx.lock(RedisReadLock);
    await reader.acquire();
    const failures: string[] = [];
    for (let k = 0; k < 40; k++) {
      // Settled either way, the mark must be gone.
      const answer = await rejection(fx.lock(RedisWriteLock).acquire({ timeout: 1 + (k % 3) }));
      const { marks } = await fx.state();
      if (marks.length > 0) failures.push(`timeout ${1 + (k % 3)}: ${answer === 'resolved' ? 'resolved false' : String(answer)}, mark left`);
    }
    await reader.release();
    expect(failures).toEqual([]);
  });
});
