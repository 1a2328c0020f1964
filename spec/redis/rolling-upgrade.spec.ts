/**
 * Rolling upgrades: a newer yadl sharing the Redis writes hash fields this
 * version does not know (tickets, labels, values of future kinds). The
 * scripts must leave them alone and keep working: acquire, renew, release,
 * force release, waiting and expiry, for every mode, with exclusion intact.
 * A key with no yadl field at all is still refused (see
 * spec/security/bad-input.spec.ts, "a foreign value at a lock key").
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LockLostError, LockTimeoutError, RedisLock, RedisReadLock, lock$, type LockMode } from '../../src/index';
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

/** Fields a newer version might write: yadl-shaped names (a tag of 1-2 lowercase letters), with and without an expiry first. */
async function writeFutureFields(state: string, expiresInMs: number): Promise<Record<string, string>> {
  const admin = redis.client();
  const [seconds] = (await admin.time()) as [number, number];
  const fields = {
    'zt:7f3a': `${seconds * 1000 + expiresInMs}:42:w`, // a ticket-like field with an expiry
    'lb:7f3a': 'host-a:1234', // a label-like field without one
    x: '1',
  };
  await admin.hset(state, fields);
  return fields;
}

describe('fields of a newer version in a live lock', () => {
  for (const mode of ['exclusive', 'read'] as LockMode[]) {
    it(`${mode}: acquire, renew, exclusion, waiting and release still work, and the fields are left alone`, async () => {
      const prefix = redis.prefix();
      const { state } = lockKeys(prefix, 'upgrade', 0);
      const opts = { redis: redis.url, prefix, mode, lease: 300 };
      const first = hold('upgrade', opts);
      await within(first.acquired, 3_000, 'first hold');
      const fields = await writeFutureFields(state, 60_000);

      // Renewals (every 100 ms) keep the hold past its 300 ms lease.
      await sleep(450);
      expect(first.ending(), 'renewed through the unknown fields').toBeUndefined();

      // Still excludes: a writer cannot get in while it holds.
      const single = hold('upgrade', { redis: redis.url, prefix, mode: 'write', timeout: 0 });
      const refused = await within(single.ended, 3_000, 'single attempt');
      expect(refused).toMatchObject({ kind: 'error', error: expect.any(LockTimeoutError) as unknown });

      // A waiting writer goes in when the hold is released.
      const waiter = hold('upgrade', { redis: redis.url, prefix, mode: 'write', timeout: 5_000 });
      await sleep(50);
      expect(waiter.leases).toHaveLength(0);
      const releasedAt = performance.now();
      first.unsubscribe();
      await within(waiter.acquired, 2_000, 'the waiter after the release');
      expect(performance.now() - releasedAt).toBeLessThan(1_000);

      const admin = redis.client();
      const left = await admin.hgetall(state);
      for (const [field, value] of Object.entries(fields)) expect(left[field], field).toBe(value);
      waiter.unsubscribe();
    });
  }

  it('a ttl hold among them still expires on time, and its holder is told', async () => {
    const prefix = redis.prefix();
    const { state } = lockKeys(prefix, 'upgrade-ttl', 0);
    const first = hold('upgrade-ttl', { redis: redis.url, prefix, ttl: 400 });
    await within(first.acquired, 3_000, 'ttl hold');
    await writeFutureFields(state, 60_000);
    const waiter = hold('upgrade-ttl', { redis: redis.url, prefix, timeout: 5_000 });
    const ending = await within(first.ended, 2_000, 'the ttl running out');
    expect(ending).toMatchObject({ kind: 'error', error: expect.any(LockLostError) as unknown });
    await within(waiter.acquired, 2_000, 'the waiter at the expiry');
  });

  it('force release and locked() work on a hash holding them; the fields keep the hash alive by their own expiry', async () => {
    const prefix = redis.prefix();
    const { state } = lockKeys(prefix, 'upgrade-force', 0);
    const holder = new RedisLock('upgrade-force', { redis: redis.url, prefix });
    const reader = new RedisReadLock('upgrade-force', { redis: redis.url, prefix });
    expect(await holder.acquire()).toBe(true);
    await writeFutureFields(state, 60_000);
    expect(await holder.locked()).toBe(true);
    expect(await reader.acquire({ blocking: false })).toBe(false);
    await new RedisLock('upgrade-force', { redis: redis.url, prefix }).release({ force: true });
    expect(await holder.locked()).toBe(false);
    expect(await reader.acquire({ blocking: false })).toBe(true);
    await reader.release();
    const admin = redis.client();
    // The release tidied the hash: no yadl hold is left, but the newer field's expiry (60 s) still counts.
    expect(await admin.pttl(state)).toBeGreaterThan(50_000);
    await holder.release().catch(() => undefined);
  });

  it('a hash that holds only such fields is a free lock, not a foreign key', async () => {
    const prefix = redis.prefix();
    const { state } = lockKeys(prefix, 'upgrade-only', 0);
    await writeFutureFields(state, 60_000);
    const lock = new RedisLock('upgrade-only', { redis: redis.url, prefix });
    expect(await lock.locked()).toBe(false);
    expect(await lock.acquire({ blocking: false })).toBe(true);
    await lock.release();
  });
});
