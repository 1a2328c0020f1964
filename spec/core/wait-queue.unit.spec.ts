/**
 * WaitQueue on a fake clock, with a fake notification source and waiters
 * whose attempts the test answers by hand: when the queue attempts, for
 * whom, and when it lets go. The real-Redis regression specs are
 * wait-queue.spec.ts.
 */
import { describe, expect, it, vi } from 'vitest';
import { QUEUE_LINGER_MS, WaitQueue, waitQueue, type AttemptOutcome, type QueuedWaiter } from '../../src/core/wait-queue';
import { MAX_TIMER_MS } from '../../src/core/timers';
import { LockError, RedisUnavailableError } from '../../src/errors';
import type { ChannelListener, Listening, NotificationSource } from '../../src/redis/subscriber';
import { deferred, settle, useFakeClock, type Deferred } from '../support/fake-clock';

useFakeClock();

/** One channel's subscription, driven by the test. */
class FakeSource implements NotificationSource {
  listener: ChannelListener | undefined;
  channel: string | undefined;
  listens = 0;
  closes = 0;
  private readonly subscribed = deferred<boolean>();

  listen(name: string, listener: ChannelListener): Listening {
    this.listens += 1;
    this.channel = name;
    this.listener = listener;
    return { ready: this.subscribed.promise, close: () => void (this.closes += 1) };
  }

  close(): void {}

  async confirm(ok = true): Promise<void> {
    this.subscribed.resolve(ok);
    await settle();
  }

  async message(...events: string[]): Promise<void> {
    for (const event of events) this.listener!.message(event);
    await settle();
  }
}

/** A waiter that never leaves by itself: only the queue's handling decides whether it is attempted again. */
class FakeWaiter implements QueuedWaiter {
  readonly attempts: Deferred<AttemptOutcome>[] = [];
  /** The companions each attempt was asked to keep alive. */
  readonly companions: (readonly string[])[] = [];
  readonly abandoned: RedisUnavailableError[] = [];
  ticket: { readonly seq: number; readonly token: string } | undefined;

  constructor(
    readonly label: string,
    readonly shared = false,
  ) {}

  attempt(companions: readonly string[]): Promise<AttemptOutcome> {
    const attempt = deferred<AttemptOutcome>();
    this.attempts.push(attempt);
    this.companions.push(companions);
    return attempt.promise;
  }

  abandon(error: RedisUnavailableError): void {
    this.abandoned.push(error);
  }

  /** Answers the attempt in flight. */
  async answer(outcome: AttemptOutcome): Promise<void> {
    const last = this.attempts.at(-1);
    if (last === undefined) throw new Error(`${this.label} has no attempt in flight`);
    last.resolve(outcome);
    await settle();
  }
}

const blocked = (waitMs: number, behindWriter = false): AttemptOutcome => ({ kind: 'blocked', waitMs, behindWriter });
const acquired = (holdMs: number): AttemptOutcome => ({ kind: 'acquired', holdMs });
const GONE: AttemptOutcome = { kind: 'gone' };
const LONG = 60_000;

function setUp() {
  const source = new FakeSource();
  const onEmpty = vi.fn<(queue: WaitQueue) => void>();
  const queue = new WaitQueue(source, 'chan', onEmpty);
  return { source, onEmpty, queue };
}

/** A queue whose subscription is confirmed, with `waiters` joined after it (no attempt made for them yet). */
async function confirmedWith(...waiters: FakeWaiter[]) {
  const setup = setUp();
  await setup.source.confirm();
  for (const waiter of waiters) setup.queue.join(waiter, setup.queue.marker(), LONG);
  await settle();
  for (const waiter of waiters) expect(waiter.attempts, `${waiter.label} attempted on joining`).toHaveLength(0);
  return setup;
}

/** Moves the fake clock to `ms` after `from`. */
async function at(from: number, ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(from + ms - performance.now());
}

describe('WaitQueue (fake clock)', () => {
  it('listens on its channel and makes no attempt until the subscription is confirmed, then one', async () => {
    const { source, queue } = setUp();
    expect(source.channel).toBe('chan');
    const a = new FakeWaiter('a');
    queue.join(a, queue.marker(), LONG);
    expect(queue.marker(), 'no marker before the subscription is confirmed').toBeUndefined();
    await vi.advanceTimersByTimeAsync(1_000);
    expect(a.attempts).toHaveLength(0);
    await source.confirm();
    expect(a.attempts).toHaveLength(1);
    await a.answer(blocked(LONG));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(a.attempts).toHaveLength(1);
  });

  it('a subscription that could not be made leaves the waiters their deadline', async () => {
    const { source, queue } = setUp();
    const a = new FakeWaiter('a');
    const t0 = performance.now();
    queue.join(a, undefined, 400);
    await source.confirm(false);
    expect(a.attempts).toHaveLength(0);
    expect(queue.marker()).toBeUndefined();
    await at(t0, 401);
    expect(a.attempts).toHaveLength(1);
  });

  it('a waiter joining with a marker from before a wake-up gets an attempt; one with a current marker does not', async () => {
    const { source, queue } = await confirmedWith();
    const stale = queue.marker();
    // The lock may have been freed after the waiter's own attempt ran: it must not wait for the next event.
    await source.message('release');
    const current = queue.marker();
    const a = new FakeWaiter('a');
    queue.join(a, current, LONG);
    await settle();
    expect(a.attempts).toHaveLength(0);
    const b = new FakeWaiter('b');
    queue.join(b, stale, LONG);
    await settle();
    expect(a.attempts, 'the head is attempted').toHaveLength(1);
    expect(b.attempts).toHaveLength(0);
  });

  it.each(['release', 'expired', 'evicted', 'release:from-another-process'])("the event '%s' wakes the head only", async (event) => {
    const a = new FakeWaiter('a');
    const b = new FakeWaiter('b');
    const { source } = await confirmedWith(a, b);
    await source.message(event);
    expect(a.attempts).toHaveLength(1);
    expect(b.attempts).toHaveLength(0);
    await a.answer(blocked(LONG));
    expect(a.attempts).toHaveLength(1);
    expect(b.attempts, 'a blocked head answers for the whole queue').toHaveLength(0);
  });

  it('makes one attempt at a time; events during an attempt cause exactly one more', async () => {
    const a = new FakeWaiter('a');
    const { source } = await confirmedWith(a);
    await source.message('release');
    expect(a.attempts).toHaveLength(1);
    await source.message('release', 'expired', 'release', 'evicted');
    expect(a.attempts, 'none while one is in flight').toHaveLength(1);
    await a.answer(blocked(LONG));
    expect(a.attempts, 'one more for the events it may have missed').toHaveLength(2);
    await a.answer(blocked(LONG));
    await vi.advanceTimersByTimeAsync(1_000);
    expect(a.attempts).toHaveLength(2);
  });

  it("does not wake on 'del', 'hdel' or other keyspace events", async () => {
    const a = new FakeWaiter('a');
    const { source } = await confirmedWith(a);
    await source.message('del', 'hdel', 'hset', 'pexpire', 'expire', 'rename_from', 'releases');
    expect(a.attempts).toHaveLength(0);
  });

  it.each([
    ['resubscribed', (l: ChannelListener) => l.resubscribed()],
    ['connectionLost', (l: ChannelListener) => l.connectionLost()],
  ])('wakes when the subscription tells of %s (events may have been missed)', async (_what, tell) => {
    const a = new FakeWaiter('a');
    const { source } = await confirmedWith(a);
    tell(source.listener!);
    await settle();
    expect(a.attempts).toHaveLength(1);
  });

  it('retries at waitMs + 1 after a blocked answer', async () => {
    const a = new FakeWaiter('a');
    const { source } = await confirmedWith(a);
    await source.message('release');
    const t0 = performance.now();
    await a.answer(blocked(500));
    await at(t0, 500);
    expect(a.attempts).toHaveLength(1);
    await at(t0, 501);
    expect(a.attempts).toHaveLength(2);
  });

  it('a waiter joining with a later, longer waitMs never pushes back an earlier deadline', async () => {
    const { queue } = await confirmedWith();
    const a = new FakeWaiter('a');
    const b = new FakeWaiter('b');
    const t0 = performance.now();
    queue.join(a, queue.marker(), 1_000);
    await at(t0, 200);
    queue.join(b, queue.marker(), 5_000);
    await at(t0, 1_000);
    expect(a.attempts).toHaveLength(0);
    await at(t0, 1_001);
    expect(a.attempts).toHaveLength(1);
  });

  it('a blocked answer with a longer waitMs does not push back a deadline another waiter still needs', async () => {
    const a = new FakeWaiter('a');
    const { source, queue } = await confirmedWith(a);
    const t0 = performance.now();
    const b = new FakeWaiter('b');
    queue.join(b, queue.marker(), 800);
    await source.message('release');
    await a.answer(blocked(5_000));
    await at(t0, 800);
    expect(a.attempts).toHaveLength(1);
    await at(t0, 801);
    expect(a.attempts).toHaveLength(2);
  });

  it('a shorter waitMs brings the deadline forward', async () => {
    const { queue } = await confirmedWith();
    const a = new FakeWaiter('a');
    const b = new FakeWaiter('b');
    const t0 = performance.now();
    queue.join(a, queue.marker(), 5_000);
    await at(t0, 200);
    queue.join(b, queue.marker(), 100);
    await at(t0, 300);
    expect(a.attempts).toHaveLength(0);
    await at(t0, 301);
    expect(a.attempts).toHaveLength(1);
  });

  it("after the head acquires (here on a deadline wake), the others' deadline is the new hold's holdMs", async () => {
    const { queue } = await confirmedWith();
    const a = new FakeWaiter('a');
    const b = new FakeWaiter('b');
    const t0 = performance.now();
    queue.join(a, queue.marker(), 300);
    queue.join(b, queue.marker(), 300);
    await at(t0, 301);
    expect(a.attempts).toHaveLength(1);
    await a.answer(acquired(2_000));
    await at(t0, 301 + 2_000);
    expect(b.attempts).toHaveLength(0);
    await at(t0, 301 + 2_001);
    expect(b.attempts).toHaveLength(1);
    expect(a.attempts).toHaveLength(1);
  });

  it.each([
    ['gone', GONE],
    ['gone with a LockError', { kind: 'gone', error: new LockError('failed', 'name') } as AttemptOutcome],
    ['acquired', acquired(LONG)],
  ])("drops a waiter answering '%s' though it did not leave by itself: it is never attempted again", async (_what, outcome) => {
    const a = new FakeWaiter('a');
    const b = new FakeWaiter('b');
    const { source, onEmpty } = await confirmedWith(a, b);
    await source.message('release');
    await a.answer(outcome);
    // After 'gone' the turn has passed to b already; after 'acquired' it takes a release.
    if (b.attempts.length === 0) await source.message('release');
    expect(b.attempts).toHaveLength(1);
    await b.answer(blocked(LONG));
    await source.message('release');
    expect(b.attempts).toHaveLength(2);
    expect(a.attempts).toHaveLength(1);
    expect(a.abandoned).toHaveLength(0);
    expect(onEmpty).not.toHaveBeenCalled();
  });

  it("a head answering 'gone' passes the turn at once; a writer that acquires does not", async () => {
    const a = new FakeWaiter('a');
    const b = new FakeWaiter('b');
    const c = new FakeWaiter('c');
    const { source } = await confirmedWith(a, b, c);
    await source.message('release');
    await a.answer(GONE);
    expect(b.attempts, 'the next waiter, without waiting for an event').toHaveLength(1);
    await b.answer(acquired(LONG));
    expect(c.attempts, 'the lock is held again: nothing to try').toHaveLength(0);
  });

  it('a reader that acquires passes the turn on, to readers and then a writer', async () => {
    const r1 = new FakeWaiter('r1', true);
    const r2 = new FakeWaiter('r2', true);
    const w = new FakeWaiter('w');
    const { source } = await confirmedWith(r1, r2, w);
    await source.message('release');
    await r1.answer(acquired(LONG));
    expect(r2.attempts).toHaveLength(1);
    await r2.answer(acquired(LONG));
    expect(w.attempts).toHaveLength(1);
    await w.answer(blocked(LONG));
    expect(r1.attempts).toHaveLength(1);
    expect(r2.attempts).toHaveLength(1);
  });

  it("a reader blocked only by a writer's mark makes the queue try the writer in the same queue", async () => {
    const r = new FakeWaiter('r', true);
    const w = new FakeWaiter('w');
    const { source } = await confirmedWith(r, w);
    await source.message('release');
    await r.answer(blocked(LONG, true));
    expect(w.attempts).toHaveLength(1);
    await w.answer(acquired(LONG));
    // The writer got in and is dropped; the reader stays at the head.
    await source.message('release');
    expect(r.attempts).toHaveLength(2);
    expect(w.attempts).toHaveLength(1);
  });

  it('a reader blocked by a hold (not a mark), or by a mark with no writer in this queue, tries nobody else', async () => {
    const r1 = new FakeWaiter('r1', true);
    const r2 = new FakeWaiter('r2', true);
    const w = new FakeWaiter('w');
    const { source } = await confirmedWith(r1, r2, w);
    await source.message('release');
    await r1.answer(blocked(LONG, false));
    expect(w.attempts).toHaveLength(0);
    expect(r2.attempts).toHaveLength(0);

    // The marking writer waits in another process (or on another client).
    const r3 = new FakeWaiter('r3', true);
    const r4 = new FakeWaiter('r4', true);
    const readersOnly = await confirmedWith(r3, r4);
    await readersOnly.source.message('release');
    await r3.answer(blocked(LONG, true));
    expect(r4.attempts).toHaveLength(0);
    expect(r3.attempts).toHaveLength(1);
  });

  it("a waiter answering 'gone' with a RedisUnavailableError abandons every waiter with that error", async () => {
    const a = new FakeWaiter('a');
    const b = new FakeWaiter('b');
    const c = new FakeWaiter('c', true);
    const { source } = await confirmedWith(a, b, c);
    await source.message('release');
    const unavailable = new RedisUnavailableError('name', 'redis://host:6379', 10_000);
    await a.answer({ kind: 'gone', error: unavailable });
    for (const waiter of [a, b, c]) {
      expect(waiter.abandoned, waiter.label).toHaveLength(1);
      expect(waiter.abandoned[0], waiter.label).toBe(unavailable);
    }
    expect(b.attempts, 'no attempt for the others: Redis would not answer them either').toHaveLength(0);
  });

  describe('a release by this process', () => {
    it("wakes once when Redis answers it, and skips its 'release:<id>' event", async () => {
      const a = new FakeWaiter('a');
      const { source, queue } = await confirmedWith(a);
      const answered = deferred<number>();
      queue.releasing('7', answered.promise);
      await settle();
      expect(a.attempts, 'not before the answer').toHaveLength(0);
      answered.resolve(1);
      await settle();
      expect(a.attempts).toHaveLength(1);
      await a.answer(blocked(LONG));
      await source.message('release:7');
      expect(a.attempts).toHaveLength(1);
    });

    it('wakes once on its event when the event comes first, and not again on the answer', async () => {
      const a = new FakeWaiter('a');
      const { source, queue } = await confirmedWith(a);
      const answered = deferred<number>();
      queue.releasing('8', answered.promise);
      await source.message('release:8');
      expect(a.attempts).toHaveLength(1);
      await a.answer(blocked(LONG));
      answered.resolve(1);
      await settle();
      expect(a.attempts).toHaveLength(1);
    });

    it('that fails does not wake the queue; its event, should it come, does', async () => {
      const a = new FakeWaiter('a');
      const { source, queue } = await confirmedWith(a);
      const answered = deferred<number>();
      queue.releasing('9', answered.promise);
      answered.reject(new Error('Connection is closed.'));
      await settle();
      expect(a.attempts).toHaveLength(0);
      await source.message('release:9');
      expect(a.attempts).toHaveLength(1);
    });
  });

  it('disposes (closes its listening, clears its deadline, tells its owner) QUEUE_LINGER_MS after the last waiter leaves', async () => {
    const a = new FakeWaiter('a');
    const b = new FakeWaiter('b');
    const { source, queue, onEmpty } = await confirmedWith(a, b);
    queue.leave(new FakeWaiter('stranger'));
    queue.leave(a);
    expect(source.closes).toBe(0);
    expect(onEmpty).not.toHaveBeenCalled();
    const left = performance.now();
    queue.leave(b);
    expect(vi.getTimerCount(), 'only the linger is armed, not the deadline').toBe(1);
    await source.message('release');
    expect(a.attempts.length + b.attempts.length, 'nobody to attempt for while it lingers').toBe(0);
    await at(left, QUEUE_LINGER_MS - 1);
    expect(source.closes).toBe(0);
    await at(left, QUEUE_LINGER_MS);
    expect(source.closes).toBe(1);
    expect(onEmpty.mock.calls).toEqual([[queue]]);
    expect(vi.getTimerCount(), 'timer left armed').toBe(0);
    await source.message('release');
    expect(a.attempts.length + b.attempts.length).toBe(0);
  });

  it('a waiter that joins while it lingers makes no extra attempt, unless something woke the queue during its first attempt', async () => {
    const a = new FakeWaiter('a');
    const { source, queue, onEmpty } = await confirmedWith(a);
    queue.leave(a);
    const quiet = new FakeWaiter('quiet');
    queue.join(quiet, queue.marker(), LONG);
    await settle();
    expect(quiet.attempts, 'nothing happened since its marker').toHaveLength(0);
    queue.leave(quiet);
    const woken = new FakeWaiter('woken');
    const marker = queue.marker();
    await source.message('release');
    queue.join(woken, marker, LONG);
    await settle();
    expect(woken.attempts, 'a release came during its first attempt').toHaveLength(1);
    await woken.answer(blocked(LONG));
    await vi.advanceTimersByTimeAsync(QUEUE_LINGER_MS * 2);
    expect(source.closes, 'a waiter in it: no linger runs out').toBe(0);
    expect(onEmpty).not.toHaveBeenCalled();
  });

  it("disposes when its last waiter is dropped for answering 'gone'", async () => {
    const a = new FakeWaiter('a');
    const { source, onEmpty } = await confirmedWith(a);
    await source.message('release');
    await a.answer(GONE);
    await vi.advanceTimersByTimeAsync(QUEUE_LINGER_MS);
    expect(source.closes).toBe(1);
    expect(onEmpty).toHaveBeenCalledTimes(1);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('waitQueue() gives one queue per source and channel, the same while it lingers, and a new one once it disposed', async () => {
    const source = new FakeSource();
    const first = waitQueue(source, 'chan');
    expect(waitQueue(source, 'chan')).toBe(first);
    expect(waitQueue(source, 'other')).not.toBe(first);
    expect(source.listens).toBe(2);
    const a = new FakeWaiter('a');
    first.join(a, undefined, LONG);
    first.leave(a);
    expect(waitQueue(source, 'chan')).toBe(first);
    await vi.advanceTimersByTimeAsync(QUEUE_LINGER_MS);
    expect(waitQueue(source, 'chan')).not.toBe(first);
  });

  describe("a fair line's grant ('grant:<seqs>|<next>|<graceMs>')", () => {
    /** A waiter holding ticket `seq` of the fair line, with the token `t<seq>`. */
    const ticketed = (label: string, seq: number, shared = false): FakeWaiter => {
      const waiter = new FakeWaiter(label, shared);
      waiter.ticket = { seq, token: `t${seq}` };
      return waiter;
    };

    it('naming a waiter that is not the local head makes the queue attempt that waiter first, and only it', async () => {
      const a = ticketed('a', 5);
      const b = ticketed('b', 7);
      const { source } = await confirmedWith(a, b);
      await source.message('grant:7|9|300');
      expect(b.attempts, 'the grantee confirms its grant').toHaveLength(1);
      expect(a.attempts).toHaveLength(0);
      await b.answer(acquired(LONG));
      expect(a.attempts, 'the lock is held by the grantee now: nothing to try').toHaveLength(0);
    });

    it('naming a run of readers of this queue attempts each of them, grantees before the local head', async () => {
      const w = ticketed('w', 2);
      const r1 = ticketed('r1', 3, true);
      const r2 = ticketed('r2', 4, true);
      const { source } = await confirmedWith(w, r1, r2);
      await source.message('grant:3,4|0|300');
      expect(w.attempts).toHaveLength(0);
      expect(r1.attempts).toHaveLength(1);
      await r1.answer(acquired(LONG));
      expect(r2.attempts, 'a reader got in: the turn passes to the next grantee').toHaveLength(1);
      expect(w.attempts).toHaveLength(0);
    });

    it("naming only another process's tickets makes no attempt, now or later", async () => {
      const a = ticketed('a', 5);
      const b = ticketed('b', 7);
      const { source } = await confirmedWith(a, b);
      await source.message('grant:3|4|300', 'grant:4|0|300', 'grant:1,2|6|300');
      await vi.advanceTimersByTimeAsync(5_000);
      expect(a.attempts.length + b.attempts.length).toBe(0);
    });

    it('arms a deadline at the grace when a waiter of this queue is next, and attempts the local head then', async () => {
      const a = ticketed('a', 5);
      const b = ticketed('b', 6);
      const { source } = await confirmedWith(a, b);
      const t0 = performance.now();
      await source.message('grant:4|6|300');
      expect(a.attempts.length + b.attempts.length, 'nothing until the grantee had its grace').toBe(0);
      await at(t0, 300);
      expect(a.attempts).toHaveLength(0);
      await at(t0, 301);
      // The head's attempt hands the lock on if the grantee let it lapse.
      expect(a.attempts).toHaveLength(1);
      expect(b.attempts).toHaveLength(0);
      expect(a.companions[0]).toEqual(['t6']);
    });

    it('arms no deadline when next is 0 or a seq this queue does not hold', async () => {
      const a = ticketed('a', 5);
      const { source } = await confirmedWith(a);
      await source.message('grant:4|0|300', 'grant:3|4|300', 'grant:3|6|300');
      await vi.advanceTimersByTimeAsync(10_000);
      expect(a.attempts).toHaveLength(0);
    });

    it('a grace deadline does not push back an earlier deadline the queue already has', async () => {
      const a = ticketed('a', 5);
      const { source, queue } = await confirmedWith();
      const t0 = performance.now();
      queue.join(a, queue.marker(), 100);
      await source.message('grant:4|5|300');
      await at(t0, 101);
      expect(a.attempts).toHaveLength(1);
    });

    it('a grant that arrives during an attempt is acted on as soon as that attempt is blocked', async () => {
      const a = ticketed('a', 5);
      const b = ticketed('b', 6);
      const { source } = await confirmedWith(a, b);
      await source.message('release');
      expect(a.attempts).toHaveLength(1);
      await source.message('grant:6|0|300');
      expect(b.attempts, 'one attempt at a time').toHaveLength(0);
      await a.answer(blocked(LONG));
      expect(b.attempts).toHaveLength(1);
    });

    it('a granted waiter that is blocked all the same stays first for the next wake-up', async () => {
      const a = ticketed('a', 5);
      const b = ticketed('b', 6);
      const { source } = await confirmedWith(a, b);
      await source.message('grant:6|0|300');
      await b.answer(blocked(LONG));
      expect(a.attempts).toHaveLength(0);
      await source.message('release');
      expect(b.attempts).toHaveLength(2);
      expect(a.attempts).toHaveLength(0);
    });

    it('wakes a local head that has no ticket yet (it came before the line): it learns of the line by attempting', async () => {
      const early = new FakeWaiter('early');
      const b = ticketed('b', 7);
      const { source } = await confirmedWith(early, b);
      await source.message('grant:3|4|300');
      expect(early.attempts).toHaveLength(1);
      expect(b.attempts).toHaveLength(0);
    });

    it("passes the other waiters' ticket tokens as companions: not its own, not those of waiters without a ticket", async () => {
      const a = ticketed('a', 1);
      const none = new FakeWaiter('none');
      const c = ticketed('c', 3);
      const d = ticketed('d', 4);
      const { source } = await confirmedWith(a, none, c, d);
      await source.message('release');
      expect(a.companions[0]).toEqual(['t3', 't4']);
      await a.answer(blocked(LONG));
      await source.message('grant:3|4|300');
      expect(c.companions[0], "a grantee keeps the others' places too").toEqual(['t1', 't4']);
    });

    it('caps the companions of one attempt at 1000', async () => {
      const waiters = Array.from({ length: 1_005 }, (_, i) => ticketed(`w${i}`, i + 1));
      const { source } = await confirmedWith(...waiters);
      await source.message('release');
      const head = waiters[0]!;
      expect(head.attempts).toHaveLength(1);
      const companions = head.companions[0]!;
      expect(companions).toHaveLength(1_000);
      expect(companions).not.toContain('t1');
      expect(companions.slice(0, 3), 'in queue order').toEqual(['t2', 't3', 't4']);
      expect(new Set(companions).size).toBe(1_000);
    });
  });

  describe('a wait longer than setTimeout can take (waitMs > 2^31-1)', () => {
    it('on joining does not fire early', async () => {
      const { queue } = await confirmedWith();
      const a = new FakeWaiter('a');
      const t0 = performance.now();
      queue.join(a, queue.marker(), 2 ** 33);
      await at(t0, MAX_TIMER_MS - 1);
      expect(a.attempts).toHaveLength(0);
      // Cut short at the ceiling: one harmless early retry after 24.8 days.
      await at(t0, MAX_TIMER_MS);
      expect(a.attempts).toHaveLength(1);
    });

    it('after a blocked answer does not fire early (regression 9.10: it retried every millisecond)', async () => {
      const { queue } = await confirmedWith();
      const a = new FakeWaiter('a');
      queue.join(a, queue.marker(), 100);
      await vi.advanceTimersByTimeAsync(101);
      expect(a.attempts, 'the deadline wake, which leaves no deadline armed').toHaveLength(1);
      const t0 = performance.now();
      await a.answer(blocked(2 ** 31));
      await at(t0, MAX_TIMER_MS - 1);
      expect(a.attempts).toHaveLength(1);
      await at(t0, MAX_TIMER_MS);
      expect(a.attempts).toHaveLength(2);
    });
  });
});
