/**
 * RenewalBatcher on a fake clock: when renewals fall due (early within their
 * window, never late), and how the renewals asked for in one turn are sent
 * (one renewMany per group, each hold told its own result). The real-Redis
 * side is renewal-batch.spec.ts.
 */
import { describe, expect, it, vi } from 'vitest';
import { HoldKeeper, holdMargin, renewalWindow } from '../../src/core/hold-keeper';
import { MAX_HOLDS_PER_SCRIPT, RenewalBatcher } from '../../src/core/renewal-batcher';
import { LockError, RedisUnavailableError, type LockLostReason } from '../../src/errors';
import type { HoldRenewal, HoldTarget } from '../../src/redis/hold-kind';
import { settle, useFakeClock } from '../support/fake-clock';

useFakeClock();

function target(name: string, group: string, renewMany: (holds: readonly HoldRenewal[]) => Promise<(number | Error)[]>): HoldTarget {
  const fail = (): Promise<never> => Promise.reject(new Error('not in this spec'));
  return {
    name,
    slotKey: name,
    channel: name,
    renewGroup: group,
    renewMany,
    acquire: fail,
    renew: vi.fn(() => Promise.resolve(111)),
    release: fail,
    withdraw: fail,
    inspect: fail,
    forceRelease: fail,
    confirm: fail,
  };
}

describe('RenewalBatcher (fake clock)', () => {
  it('a renewal joins the earliest tick within its window, else plans its own at its latest time', async () => {
    const batcher = new RenewalBatcher();
    const t0 = performance.now();
    const fired: [string, number][] = [];
    const due = (name: string) => () => fired.push([name, performance.now() - t0]);
    batcher.schedule(t0 + 1_000, 900, due('a')); // plans a tick at 1000
    batcher.schedule(t0 + 1_800, 900, due('b')); // 1000 is within [900, 1800]: joins it, 800 ms early
    batcher.schedule(t0 + 2_500, 900, due('c')); // [1600, 2500]: its own tick at 2500
    batcher.schedule(t0 + 2_600, 200, due('d')); // [2400, 2600]: joins 2500
    batcher.schedule(t0 + 900, 900, due('e')); // [0, 900]: 1000 would be late, its own tick at 900
    await vi.advanceTimersByTimeAsync(3_000);
    expect(fired).toEqual([
      ['e', 900],
      ['a', 1_000],
      ['b', 1_000],
      ['c', 2_500],
      ['d', 2_500],
    ]);
  });

  it('a cancelled renewal is not called, and a tick left empty fires nothing', async () => {
    const batcher = new RenewalBatcher();
    const t0 = performance.now();
    const a = vi.fn();
    const b = vi.fn();
    const cancelA = batcher.schedule(t0 + 500, 400, a);
    batcher.schedule(t0 + 600, 400, b).call(undefined);
    cancelA();
    expect(vi.getTimerCount()).toBe(0);
    await vi.advanceTimersByTimeAsync(1_000);
    expect(a).not.toHaveBeenCalled();
    expect(b).not.toHaveBeenCalled();
  });

  it('the renewals asked for in one turn go as one renewMany per group, each told its own answer', async () => {
    const batcher = new RenewalBatcher();
    const sentA: (readonly HoldRenewal[])[] = [];
    const sentB: (readonly HoldRenewal[])[] = [];
    const gone = new LockError('foreign value', 'a2');
    const a = [0, 1, 2].map((i) =>
      target(`a${i}`, 'slot-a', (holds) => {
        sentA.push(holds);
        return Promise.resolve(holds.map((h) => (h.token === 't-a1' ? 0 : h.token === 't-a2' ? gone : h.holdMs)));
      }),
    );
    const b = [0, 1].map((i) =>
      target(`b${i}`, 'slot-b', (holds) => {
        sentB.push(holds);
        return Promise.reject(Object.assign(new Error('BUSY running a script'), { name: 'ReplyError' }));
      }),
    );
    const results = [
      ...a.map((t, i) => batcher.renew(t, `t-a${i}`, 3_000)),
      ...b.map((t, i) => batcher.renew(t, `t-b${i}`, 0)),
    ].map((p) => p.then((left) => ({ left }), (error: unknown) => ({ error })));
    await settle();
    expect(sentA).toHaveLength(1);
    expect(sentA[0]!.map((h) => [h.target.name, h.token, h.holdMs])).toEqual([
      ['a0', 't-a0', 3_000],
      ['a1', 't-a1', 3_000],
      ['a2', 't-a2', 3_000],
    ]);
    expect(sentB).toHaveLength(1);
    const answers = await Promise.all(results);
    expect(answers.slice(0, 3)).toEqual([{ left: 3_000 }, { left: 0 }, { error: gone }]);
    // A batch that got no answer fails each of its holds with the same transient error: each keeper retries.
    for (const answer of answers.slice(3)) expect((answer as { error: Error }).error.message).toMatch(/^BUSY/);
  });

  it('a group with one renewal sends the single renew script; a big group is cut into scripts of MAX_HOLDS_PER_SCRIPT', async () => {
    const batcher = new RenewalBatcher();
    const sizes: number[] = [];
    const many = (holds: readonly HoldRenewal[]): Promise<number[]> => {
      sizes.push(holds.length);
      return Promise.resolve(holds.map(() => 1));
    };
    const lone = target('lone', 'alone', many);
    const lonely = batcher.renew(lone, 't', 500);
    const big = Array.from({ length: MAX_HOLDS_PER_SCRIPT + 3 }, (_, i) => batcher.renew(target(`n${i}`, 'big', many), `t${i}`, 500));
    await settle();
    expect(await lonely).toBe(111);
    expect(lone.renew).toHaveBeenCalledWith('t', 500);
    expect(sizes).toEqual([MAX_HOLDS_PER_SCRIPT, 3]);
    expect((await Promise.all(big)).every((left) => left === 1)).toBe(true);
  });

  it('a batch refused TRYAGAIN (its slot mid-migration, keys on two nodes) renews its holds one by one', async () => {
    const batcher = new RenewalBatcher();
    const tryAgain = (): Promise<never> => Promise.reject(Object.assign(new Error('TRYAGAIN Multiple keys request during rehashing of slot'), { name: 'ReplyError' }));
    const targets = [0, 1, 2].map((i) => target(`m${i}`, 'slot-m', tryAgain));
    const lefts = targets.map((t, i) => batcher.renew(t, `t${i}`, 900));
    expect(await Promise.all(lefts)).toEqual([111, 111, 111]);
    targets.forEach((t, i) => expect(t.renew).toHaveBeenCalledWith(`t${i}`, 900));
  });

  it('HoldKeepers on one schedule: a hold acquired later renews early with the first, and they stay together', async () => {
    const batcher = new RenewalBatcher();
    const LEASE = 3_000;
    const t0 = performance.now();
    const sent: [string, number][] = [];
    const keeper = (name: string): HoldKeeper =>
      new HoldKeeper(
        { ttl: 0, lease: LEASE },
        () => {
          sent.push([name, performance.now() - t0]);
          return Promise.resolve(LEASE);
        },
        () => expect.fail(`${name} lost`),
        batcher,
      );
    const a = keeper('a');
    const b = keeper('b');
    a.start(t0, LEASE);
    await vi.advanceTimersByTimeAsync(400);
    b.start(performance.now(), LEASE); // due at 1400, may come from 500: joins a's tick at 1000
    await vi.advanceTimersByTimeAsync(2_700);
    expect(sent).toEqual([
      ['a', 1_000],
      ['b', 1_000],
      ['a', 2_000],
      ['b', 2_000],
      ['a', 3_000],
      ['b', 3_000],
    ]);
    a.stop();
    b.stop();
    expect(vi.getTimerCount()).toBe(0);
  });

  it("a HoldKeeper on a schedule whose renewals keep failing retries every lease/10 and ends 'unconfirmed' on time", async () => {
    const batcher = new RenewalBatcher();
    const LEASE = 3_000;
    const t0 = performance.now();
    const tries: number[] = [];
    const lost = vi.fn<(reason: LockLostReason) => void>();
    const hold = new HoldKeeper(
      { ttl: 0, lease: LEASE },
      () => {
        tries.push(performance.now() - t0);
        return Promise.reject(new RedisUnavailableError('x', 'test', 100, { waited: 100 }));
      },
      lost,
      batcher,
    );
    hold.start(t0, LEASE);
    await vi.advanceTimersByTimeAsync(LEASE - holdMargin(LEASE) - 1);
    expect(lost).not.toHaveBeenCalled();
    await vi.advanceTimersByTimeAsync(1);
    expect(lost).toHaveBeenCalledWith('unconfirmed');
    // The first at lease/3, then retries at most lease/10 apart (a retry may come up to half of that early).
    expect(tries[0]).toBe(1_000);
    for (let i = 1; i < tries.length; i++) expect(tries[i]! - tries[i - 1]!).toBeGreaterThanOrEqual(150);
    for (let i = 1; i < tries.length; i++) expect(tries[i]! - tries[i - 1]!).toBeLessThanOrEqual(300);
    expect(tries.length).toBeGreaterThanOrEqual(7);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('the window of a planned renewal keeps back a tenth of its period', () => {
    expect(renewalWindow(10_000)).toBe(9_000);
    expect(renewalWindow(300)).toBe(270);
    expect(renewalWindow(10)).toBe(9);
    expect(renewalWindow(1)).toBe(0);
  });
});
