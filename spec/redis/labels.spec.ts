/**
 * Holder labels: who holds, for operators. A label is kept beside its hold
 * (the writer's in `wl`, a reader's in `l:<token>`), moves with a renewed
 * reader's expiry, is carried by a fair ticket into the hold a release grants,
 * and goes when the hold goes: released, expired or force-released.
 */
import { hostname } from 'node:os';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisLock, lock$ } from '../../src/index';
import { lockKeys } from '../../src/redis/keys';
import { subscribeLock, within, sleep, type Holding } from '../core/holding';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';

const redis = useRedis();
let timersBefore = 0;
const holdings: Holding[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  for (const h of holdings.splice(0)) h.unsubscribe();
  await expectQuiescent(timersBefore);
});

const hold = (...args: Parameters<typeof lock$>): Holding => {
  const holding = subscribeLock(lock$(...args));
  holdings.push(holding);
  return holding;
};

/** The labels in a lock's hash ('<since>:<label>' for the writer, '<expiry>:<since>:<label>' for a reader), by role. */
async function labels(state: string): Promise<string[]> {
  const fields = await redis.client().hgetall(state);
  return Object.entries(fields)
    .filter(([field]) => field === 'wl' || field.startsWith('l:'))
    .map(([field, value]) => (field === 'wl' ? `writer ${value.replace(/^\d+:/, '')}` : `reader ${value.replace(/^\d+:\d+:/, '')}`))
    .sort();
}

describe('holder labels', () => {
  it('a writer is labelled <hostname>:<pid> by default, since when it acquired; the label goes with the release', async () => {
    const prefix = redis.prefix();
    const { state } = lockKeys(prefix, 'l', 0);
    const admin = redis.client();
    const [seconds] = (await admin.time()) as [number, number];
    const holding = hold('l', { redis: redis.url, prefix });
    await within(holding.acquired, 3_000, 'the hold');
    const wl = await admin.hget(state, 'wl');
    expect(wl).toMatch(new RegExp(`^\\d+:${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}:${process.pid}$`));
    const since = Number(wl?.split(':')[0]);
    expect(since).toBeGreaterThanOrEqual(seconds * 1000);
    expect(since).toBeLessThan(seconds * 1000 + 5_000);
    holding.unsubscribe();
    await sleep(50);
    expect(await admin.exists(state)).toBe(0);
  });

  it('readers keep their own labels, which follow their renewed expiry and go with their holds', async () => {
    const prefix = redis.prefix();
    const { state } = lockKeys(prefix, 'lr', 0);
    const a = hold('lr', { redis: redis.url, prefix, mode: 'read', label: 'reader a', lease: 300 });
    const b = hold('lr', { redis: redis.url, prefix, mode: 'read', label: 'reader b: with colons' });
    await within(Promise.all([a.acquired, b.acquired]), 3_000, 'both readers');
    expect(await labels(state)).toEqual(['reader reader a', 'reader reader b: with colons']);
    const admin = redis.client();
    const labelOf = async (token: string): Promise<number> => Number((await admin.hget(state, `l:${token}`))?.split(':')[0]);
    const before = await labelOf((await a.acquired).token);
    await sleep(250); // a renewal of a's 300 ms lease
    expect(await labelOf((await a.acquired).token)).toBeGreaterThan(before);
    expect(a.ending()).toBeUndefined();
    a.unsubscribe();
    await sleep(50);
    expect(await labels(state)).toEqual(['reader reader b: with colons']);
  });

  it('a fair ticket carries its label into the hold a release grants', async () => {
    const prefix = redis.prefix();
    const { state } = lockKeys(prefix, 'lf', 0);
    const holder = hold('lf', { redis: redis.url, prefix, label: 'first' });
    await within(holder.acquired, 3_000, 'the holder');
    const waiter = hold('lf', { redis: redis.url + '?fair', prefix, fair: true, label: 'second in line' });
    await sleep(100);
    holder.unsubscribe();
    await within(waiter.acquired, 3_000, 'the fair waiter');
    const wl = await redis.client().hget(state, 'wl');
    expect(wl?.replace(/^\d+:/, '')).toBe('second in line');
  });

  it('a force release takes the labels with the holds', async () => {
    const prefix = redis.prefix();
    const { state } = lockKeys(prefix, 'lx', 0);
    const reader = hold('lx', { redis: redis.url, prefix, mode: 'read', label: 'r' });
    await within(reader.acquired, 3_000, 'the reader');
    await new RedisLock('lx', { redis: redis.url, prefix }).release({ force: true });
    expect(await redis.client().exists(state)).toBe(0);
  });

  it('bad labels are refused before any Redis I/O', () => {
    expect(() => lock$('x', { label: 5 as unknown as string })).toThrow(TypeError);
    expect(() => lock$('x', { label: 'x'.repeat(257) })).toThrow(RangeError);
    expect(() => new RedisLock('x', { label: 'x'.repeat(257) })).toThrow(RangeError);
    expect(() => lock$('x', { label: 'x'.repeat(256) })).not.toThrow();
  });
});
