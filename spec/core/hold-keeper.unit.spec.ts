/**
 * HoldKeeper on a fake clock, with renewOnce and lost injected: when it
 * renews, where it puts the end of a hold, and how each kind of answer ends
 * it. The real-Redis regression spec of BUSY renewals is hold-keeper.spec.ts.
 */
import { describe, expect, it, vi } from 'vitest';
import { HoldKeeper, holdMargin } from '../../src/core/hold-keeper';
import { MAX_TIMER_MS } from '../../src/core/timers';
import { LockError, RedisUnavailableError, type LockLostReason } from '../../src/errors';
import { deferred, settle, useFakeClock, type Deferred } from '../support/fake-clock';

useFakeClock();

function replyError(message: string): Error {
  const error = new Error(message);
  error.name = 'ReplyError'; // what ioredis names an error reply
  return error;
}

/** A keeper whose renewals stay in flight until the test answers them. */
function keeper(settings: { ttl: number; lease: number }) {
  const sent: { holdMs: number; at: number; answer: Deferred<number> }[] = [];
  const lost = vi.fn<(reason: LockLostReason) => void>();
  const renewOnce = vi.fn((holdMs: number) => {
    const answer = deferred<number>();
    sent.push({ holdMs, at: performance.now(), answer });
    return answer.promise;
  });
  const hold = new HoldKeeper(settings, renewOnce, lost);
  /** Answers the renewal in flight (the last one sent). */
  const answer = async (result: number | Error): Promise<void> => {
    const last = sent.at(-1);
    if (last === undefined) throw new Error('no renewal was sent');
    if (result instanceof Error) last.answer.reject(result);
    else last.answer.resolve(result);
    await settle();
  };
  return { hold, sent, lost, renewOnce, answer };
}

/** Moves the clock to `ms` after `from`. */
async function at(from: number, ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(from + ms - performance.now());
}

describe('HoldKeeper (fake clock)', () => {
  const LEASE = 3_000;
  const MARGIN = holdMargin(LEASE); // 65 ms

  it('renews a lease every lease/3, asking for a whole lease each time', async () => {
    const k = keeper({ ttl: 0, lease: LEASE });
    const t0 = performance.now();
    k.hold.start(t0, LEASE);
    for (const due of [1_000, 2_000, 3_000, 4_000]) {
      await at(t0, due - 1);
      expect(k.sent, `before ${due} ms`).toHaveLength(due / 1_000 - 1);
      await at(t0, due);
      expect(k.sent, `at ${due} ms`).toHaveLength(due / 1_000);
      expect(k.sent.at(-1)!.holdMs).toBe(LEASE);
      await k.answer(LEASE);
    }
    expect(k.lost).not.toHaveBeenCalled();
    k.hold.stop();
  });

  it("a renewal's answer moves the end to sentAt + left - margin, not answer time + left", async () => {
    const k = keeper({ ttl: 0, lease: LEASE });
    const t0 = performance.now();
    k.hold.start(t0, LEASE); // would end at t0 + 2935 without a renewal
    await at(t0, 1_000);
    expect(k.sent).toHaveLength(1);
    await at(t0, 1_500);
    await k.answer(2_500); // Redis ran it somewhere in [1000, 1500]: the hold ends no earlier than 1000 + 2500
    const end = 1_000 + 2_500 - MARGIN; // 3435
    await at(t0, 2_500);
    expect(k.sent, 'the next renewal, lease/3 after the answer').toHaveLength(2);
    // That one goes unanswered: the hold ends where the first answer put it.
    await at(t0, end - 1);
    expect(k.lost).not.toHaveBeenCalled();
    await at(t0, end);
    expect(k.lost.mock.calls).toEqual([['unconfirmed']]);
  });

  it('a renewal answering less time left moves the end earlier', async () => {
    const k = keeper({ ttl: 0, lease: LEASE });
    const t0 = performance.now();
    k.hold.start(t0, LEASE);
    await at(t0, 1_000);
    await k.answer(1_200); // e.g. a resend answered by the hold an earlier copy renewed
    const end = 1_000 + 1_200 - MARGIN; // 2135, earlier than the 2935 the start gave
    await at(t0, end - 1);
    expect(k.lost).not.toHaveBeenCalled();
    await at(t0, end);
    expect(k.lost.mock.calls).toEqual([['unconfirmed']]);
  });

  it('waits for a renewal in flight without polling: its only timer is the end', async () => {
    const k = keeper({ ttl: 0, lease: LEASE });
    const t0 = performance.now();
    k.hold.start(t0, LEASE);
    await at(t0, 1_000);
    expect(k.sent).toHaveLength(1);
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    await at(t0, LEASE - MARGIN - 1);
    expect(setTimeoutSpy, 'timers armed while the renewal was in flight').not.toHaveBeenCalled();
    await at(t0, LEASE - MARGIN);
    expect(k.lost.mock.calls).toEqual([['unconfirmed']]);
  });

  it('start(sentAt, leftMs) with leftMs < lease (a hold an earlier unanswered attempt took) ends earlier accordingly', async () => {
    const k = keeper({ ttl: 0, lease: LEASE });
    const t0 = performance.now();
    // The attempt that took it was sent 200 ms ago and found 1500 ms left of it.
    k.hold.start(t0 - 200, 1_500);
    const end = -200 + 1_500 - MARGIN; // 1235
    await at(t0, 1_000);
    expect(k.sent, 'still renewed at lease/3').toHaveLength(1);
    await at(t0, end - 1);
    expect(k.lost).not.toHaveBeenCalled();
    await at(t0, end);
    expect(k.lost.mock.calls).toEqual([['unconfirmed']]);
  });

  it("checks a fixed ttl every lease/3 (renewing nothing), and ends it as 'expired' whatever the checks answer", async () => {
    const TTL = 5_000;
    const k = keeper({ ttl: TTL, lease: LEASE });
    const t0 = performance.now();
    k.hold.start(t0, TTL);
    const end = TTL - holdMargin(TTL); // 4895
    for (const due of [1_000, 2_000, 3_000, 4_000]) {
      await at(t0, due);
      expect(k.sent, `at ${due} ms`).toHaveLength(due / 1_000);
      expect(k.sent.at(-1)!.holdMs, 'a check, not a renewal').toBe(0);
      // A check reports the time left; it does not extend a fixed ttl.
      await k.answer(TTL);
    }
    await at(t0, end - 1);
    expect(k.lost).not.toHaveBeenCalled();
    await at(t0, end);
    expect(k.lost.mock.calls).toEqual([['expired']]);
    expect(k.sent, 'no check due at 5000 ms: the ttl ends first').toHaveLength(4);
  });

  it('does not check a fixed ttl that ends before the first check', async () => {
    const TTL = 800;
    const k = keeper({ ttl: TTL, lease: LEASE });
    const t0 = performance.now();
    k.hold.start(t0, TTL);
    await at(t0, TTL - holdMargin(TTL) - 1);
    expect(k.lost).not.toHaveBeenCalled();
    await at(t0, TTL - holdMargin(TTL));
    expect(k.lost.mock.calls).toEqual([['expired']]);
    await at(t0, 10_000);
    expect(k.sent).toHaveLength(0);
  });

  describe.each([
    ['a closed connection', new Error('Connection is closed.')],
    ['ioredis giving up', new Error('Reached the max retries per request limit (which is 20).')],
    ['no answer within redisTimeout', new RedisUnavailableError('name', 'redis://host:6379', 10_000)],
    ['BUSY', replyError('BUSY Redis is busy running a script. You can only call SCRIPT KILL or SHUTDOWN NOSAVE.')],
    ['LOADING', replyError('LOADING Redis is loading the dataset in memory')],
  ])('a renewal failing with %s', (_what, failure) => {
    it("is retried every lease/10 until the end, which is then 'unconfirmed'", async () => {
      const k = keeper({ ttl: 0, lease: LEASE });
      const t0 = performance.now();
      k.hold.start(t0, LEASE);
      const end = LEASE - MARGIN; // 2935
      await at(t0, 1_000);
      await k.answer(failure);
      for (const due of [1_300, 1_600, 1_900, 2_200, 2_500, 2_800]) {
        await at(t0, due - 1);
        expect(k.sent, `before ${due} ms`).toHaveLength((due - 1_000) / 300);
        await at(t0, due);
        expect(k.sent, `at ${due} ms`).toHaveLength((due - 1_000) / 300 + 1);
        await k.answer(failure);
      }
      expect(k.lost).not.toHaveBeenCalled();
      await at(t0, end - 1);
      expect(k.lost).not.toHaveBeenCalled();
      await at(t0, end);
      expect(k.lost.mock.calls).toEqual([['unconfirmed']]);
      await at(t0, 10_000);
      expect(k.sent, 'nothing after the end').toHaveLength(7);
    });

    it('keeps the hold when a retry gets through', async () => {
      const k = keeper({ ttl: 0, lease: LEASE });
      const t0 = performance.now();
      k.hold.start(t0, LEASE);
      await at(t0, 1_000);
      await k.answer(failure);
      await at(t0, 1_300);
      await k.answer(LEASE);
      await at(t0, 2_299);
      expect(k.sent, 'back to lease/3 after the answer, not lease/10').toHaveLength(2);
      await at(t0, 2_300);
      expect(k.sent).toHaveLength(3);
      // That renewal goes unanswered: the hold ends where the retry's answer put it.
      const end = 1_300 + LEASE - MARGIN;
      await at(t0, end - 1);
      expect(k.lost).not.toHaveBeenCalled();
      await at(t0, end);
      expect(k.lost.mock.calls).toEqual([['unconfirmed']]);
    });
  });

  it('retries no more often than every 10 ms, however short the lease', async () => {
    const LEASE_30 = 30; // lease/10 would be 3 ms
    const k = keeper({ ttl: 0, lease: LEASE_30 });
    const t0 = performance.now();
    k.hold.start(t0, LEASE_30);
    const end = LEASE_30 - holdMargin(LEASE_30); // 24
    await at(t0, 10);
    await k.answer(new Error('Connection is closed.'));
    await at(t0, 19);
    expect(k.sent).toHaveLength(1);
    await at(t0, 20);
    expect(k.sent).toHaveLength(2);
    await k.answer(new Error('Connection is closed.'));
    await at(t0, end);
    expect(k.lost.mock.calls).toEqual([['unconfirmed']]);
    expect(k.sent).toHaveLength(2);
  });

  it.each([
    ['a WRONGTYPE reply', replyError('WRONGTYPE Operation against a key holding the wrong kind of value')],
    ['an ERR reply', replyError('ERR Error running script: YADLSTATE fence counter was not written by yadl')],
    ["yadl's own verdict", new LockError("lock 'name': unexpected error from Redis", 'name')],
  ])("ends the hold as 'gone' at once on %s", async (_what, failure) => {
    const k = keeper({ ttl: 0, lease: LEASE });
    const t0 = performance.now();
    k.hold.start(t0, LEASE);
    await at(t0, 1_000);
    await k.answer(failure);
    expect(k.lost.mock.calls).toEqual([['gone']]);
    await at(t0, 10_000);
    expect(k.sent, 'no retry').toHaveLength(1);
    expect(k.lost).toHaveBeenCalledTimes(1);
  });

  it.each([
    ['a lease', 0],
    ['a fixed ttl', 5_000],
  ])("ends %s as 'gone' at once when Redis answers 0 left", async (_what, ttl) => {
    const k = keeper({ ttl, lease: LEASE });
    const t0 = performance.now();
    k.hold.start(t0, ttl > 0 ? ttl : LEASE);
    await at(t0, 1_000);
    await k.answer(0);
    expect(k.lost.mock.calls).toEqual([['gone']]);
    await at(t0, 10_000);
    expect(k.sent).toHaveLength(1);
    expect(k.lost).toHaveBeenCalledTimes(1);
  });

  describe('stop()', () => {
    it('before the first renewal: nothing is sent and nothing is lost, not even at the end', async () => {
      const k = keeper({ ttl: 0, lease: LEASE });
      const t0 = performance.now();
      k.hold.start(t0, LEASE);
      await at(t0, 500);
      k.hold.stop();
      expect(vi.getTimerCount(), 'the timer left armed').toBe(0);
      await at(t0, 10 * LEASE);
      expect(k.sent).toHaveLength(0);
      expect(k.lost).not.toHaveBeenCalled();
      expect(vi.getTimerCount(), 'timers left behind').toBe(0);
    });

    it.each([
      ['time left', LEASE as number | Error],
      ['0 left', 0],
      ['a definite error', replyError('WRONGTYPE Operation against a key holding the wrong kind of value')],
      ['a connection problem', new Error('Connection is closed.')],
    ])('while a renewal is in flight that then answers %s: no callback, no renewal after it', async (_what, result) => {
      const k = keeper({ ttl: 0, lease: LEASE });
      const t0 = performance.now();
      k.hold.start(t0, LEASE);
      await at(t0, 1_000);
      expect(k.sent).toHaveLength(1);
      k.hold.stop();
      await k.answer(result);
      // A timer left behind would keep the process alive for up to lease/3.
      expect(vi.getTimerCount(), 'a timer armed after stop()').toBe(0);
      await at(t0, 10 * LEASE);
      expect(k.sent).toHaveLength(1);
      expect(k.lost).not.toHaveBeenCalled();
      expect(vi.getTimerCount(), 'timers left behind').toBe(0);
    });

    it('of a fixed ttl: no expiry is reported', async () => {
      const k = keeper({ ttl: 500, lease: LEASE });
      const t0 = performance.now();
      k.hold.start(t0, 500);
      k.hold.stop();
      await at(t0, 10_000);
      expect(k.lost).not.toHaveBeenCalled();
    });
  });

  it('a fixed ttl at the timer ceiling (2^31-1) fires nothing early: checks at lease/3, expiry at its end', async () => {
    const setTimeoutSpy = vi.spyOn(globalThis, 'setTimeout');
    const TTL = MAX_TIMER_MS;
    const LONG_LEASE = MAX_TIMER_MS;
    const k = keeper({ ttl: TTL, lease: LONG_LEASE });
    const t0 = performance.now();
    k.hold.start(t0, TTL);
    const third = Math.floor(LONG_LEASE / 3);
    const end = TTL - holdMargin(TTL);
    await at(t0, third - 1);
    expect(k.sent).toHaveLength(0);
    await at(t0, third);
    expect(k.sent).toHaveLength(1);
    await k.answer(TTL - third);
    await at(t0, 2 * third);
    expect(k.sent).toHaveLength(2);
    await k.answer(TTL - 2 * third);
    await at(t0, end - 1);
    expect(k.lost).not.toHaveBeenCalled();
    expect(k.sent, 'no third check: the ttl ends first').toHaveLength(2);
    await at(t0, end);
    expect(k.lost.mock.calls).toEqual([['expired']]);
    for (const [, delay] of setTimeoutSpy.mock.calls) expect(delay).toBeLessThanOrEqual(MAX_TIMER_MS);
  });
});
