/**
 * RedisElection, the promise facade over elect$: campaign, isLeader, term,
 * resign (back of the line: another candidate leads next), leader(), await using.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisElection } from '../../src/index';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';

const redis = useRedis();
let timersBefore = 0;
const elections: RedisElection[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  await Promise.all(elections.splice(0).map((e) => e.resign()));
  await expectQuiescent(timersBefore);
});

function election(value: string, prefix: string, name = 'facade'): RedisElection {
  const e = new RedisElection(name, { redis: redis.url, prefix, value, lease: 2_000 });
  elections.push(e);
  return e;
}

describe('RedisElection', () => {
  it('campaigns, leads, resigns to the next candidate, and tells who leads', async () => {
    const prefix = redis.prefix();
    const a = election('a', prefix);
    const b = election('b', prefix);
    expect(await a.leader()).toBeNull();
    expect(await a.campaign()).toBe(true);
    expect(a.isLeader).toBe(true);
    const term = a.term!;
    expect(term.value).toBe('a');
    expect(await b.leader()).toEqual({ fence: term.fence, value: 'a' });
    expect(await b.campaign({ timeout: 200 })).toBe(false);
    expect(await b.campaign({ timeout: 0 })).toBe(false);
    expect(b.isLeader).toBe(false);

    const bLeads = b.campaign({ timeout: 5_000 });
    await a.resign();
    expect(a.isLeader).toBe(false);
    expect(a.term).toBeUndefined();
    expect(term.signal.aborted).toBe(true);
    expect(await bLeads).toBe(true);
    expect(b.term!.fence).toBeGreaterThan(term.fence);
    expect(await a.leader()).toEqual({ fence: b.term!.fence, value: 'b' });
    await b.term!.proclaim('b2');
    expect(await a.leader()).toEqual({ fence: b.term!.fence, value: 'b2' });
    expect(await b.campaign()).toBe(true); // already leads
  });

  it('rejects bad input before any I/O, and an aborted campaign with the reason', async () => {
    expect(() => new RedisElection('')).toThrow(RangeError);
    expect(() => new RedisElection('')).toThrow(/^election name must not be empty/);
    expect(() => new RedisElection('n', { value: 1 as unknown as string })).toThrow(TypeError);
    expect(() => new RedisElection('n', { ttl: 5 } as object)).toThrow(TypeError);
    expect(() => new RedisElection('n', { host: 'h', redis: 'redis://x' })).toThrow(TypeError);
    const prefix = redis.prefix();
    const a = election('a', prefix);
    await expect(a.campaign({ timeout: -5 })).rejects.toThrow(RangeError);
    await expect(a.campaign({ blocking: false } as object)).rejects.toThrow(TypeError);
    expect(await a.campaign()).toBe(true);
    const b = election('b', prefix);
    const abort = new AbortController();
    const waiting = b.campaign({ signal: abort.signal });
    abort.abort(new Error('enough'));
    await expect(waiting).rejects.toThrow('enough');
  });

  it('stays a candidate after a lost term; a campaign that gives up does not end a candidacy it did not start', async () => {
    const prefix = redis.prefix();
    const a = election('a', prefix, 'kept');
    expect(await a.campaign()).toBe(true);
    const first = a.term!;
    const b = election('b', prefix, 'kept');
    const bLeads = b.campaign({ timeout: 10_000 });
    // Redis loses a's term: b takes the next one, and a campaigns on in the background.
    await redis.client().del(`${prefix}:election:{kept}`);
    expect(await bLeads).toBe(true);
    // a hears of it at its next renewal (a third of its lease).
    const until = performance.now() + 2_000;
    while (!first.signal.aborted && performance.now() < until) await new Promise((resolve) => setTimeout(resolve, 20));
    expect(first.signal.aborted).toBe(true);
    expect(a.isLeader).toBe(false);
    expect(await a.campaign({ timeout: 0 })).toBe(false);
    expect(await a.campaign({ timeout: 100 })).toBe(false);
    await b.resign();
    await new Promise((resolve) => setTimeout(resolve, 500));
    expect(a.isLeader).toBe(true);
    expect(a.term!.fence).toBeGreaterThan(first.fence);
  });

  it('await using resigns at the end of the scope', async () => {
    const prefix = redis.prefix();
    const other = election('other', prefix, 'scoped');
    {
      await using e = new RedisElection('scoped', { redis: redis.url, prefix, value: 'scoped' });
      expect(await e.campaign()).toBe(true);
    }
    expect(await other.campaign({ timeout: 1_000 })).toBe(true);
  });
});
