/**
 * Batched renewals on a real Redis (src/core/renewal-batcher.ts, the lock
 * kind's renew-many-2.lua): the holds of one client renew in one script per
 * tick, and each hold is still told of its own loss exactly as before. The
 * scheduling itself is unit-tested in renewal-batcher.unit.spec.ts.
 */
import { createHash } from 'node:crypto';
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { lock$, LockLostError, type Lease } from '../../src/index';
import { luaScripts } from '../../src/redis/scripts/lua.generated';
import { BUSY_SERVER_ARGS, busyFor, sleep, stateKey, useFaultKit, within, type Holding } from '../faults/fault-kit';
import { startMonitor } from '../support/monitor';

const kit = useFaultKit();
const sha = (lua: string): string => createHash('sha1').update(lua).digest('hex');
const RENEW = sha(luaScripts.lock.renew.lua);
const RENEW_MANY = sha(luaScripts.lock.renewMany.lua);

interface Scripts {
  /** Keys of each renew-many script seen, in order (2 per hold). */
  readonly batches: number[];
  /** Single renew scripts seen. */
  readonly singles: number;
  stop(): Promise<void>;
}

/** Watches the renewal scripts the Redis at `url` runs (MONITOR on a connection of its own). */
async function watchRenewals(url: string): Promise<Scripts> {
  const batches: number[] = [];
  let singles = 0;
  const monitor = await startMonitor(url, (_time, args) => {
    if (args[0]?.toLowerCase() !== 'evalsha' && args[0]?.toLowerCase() !== 'eval') return;
    if (args[1] === RENEW_MANY || args[1] === luaScripts.lock.renewMany.lua) batches.push(Number(args[2]));
    if (args[1] === RENEW || args[1] === luaScripts.lock.renew.lua) singles += 1;
  });
  return {
    batches,
    get singles() {
      return singles;
    },
    stop: () => monitor.stop(),
  };
}

/** Holds every name on one client; resolves with their leases. */
async function holdAll(redis: Redis, names: string[], lease: number | ((i: number) => number)): Promise<{ holdings: Holding[]; leases: Lease[] }> {
  const holdings = names.map((name, i) =>
    kit.hold(lock$(name, { redis, prefix: 'rb', lease: typeof lease === 'number' ? lease : lease(i) })),
  );
  const leases = await within(Promise.all(holdings.map((h) => h.acquired)), 10_000, 'every hold');
  return { holdings, leases };
}

describe('batched renewals', () => {
  it('the holds of one client renew in one script per tick, none on its own', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const redis = kit.client(server.url);
    const names = Array.from({ length: 6 }, (_, i) => `batch-${i}`);
    const { holdings, leases } = await holdAll(redis, names, 900);
    const seen = await watchRenewals(server.url);
    try {
      // Five periods of 300 ms: holds acquired a little apart converge on one tick after the first.
      await sleep(1_500);
    } finally {
      await seen.stop();
    }
    expect(holdings.map((h) => h.ending())).toEqual(names.map(() => undefined));
    expect(seen.singles, 'renew scripts of one hold').toBe(0);
    expect(seen.batches.length, 'renew-many scripts').toBeGreaterThanOrEqual(2);
    expect(seen.batches.at(-1), 'keys of the last batch: all six holds').toBe(12);
    for (const [i, name] of names.entries()) expect(await admin.hget(stateKey('rb', name), 'w')).toBe(leases[i]!.token);
  });

  it('a hold lost inside a batch is told (its signal first), and the others go on renewing', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const redis = kit.client(server.url);
    const names = Array.from({ length: 5 }, (_, i) => `lost-${i}`);
    const { holdings, leases } = await holdAll(redis, names, 900);
    const abortedAt: (number | undefined)[] = leases.map(() => undefined);
    leases.forEach((lease, i) => lease.signal.addEventListener('abort', () => (abortedAt[i] = performance.now())));
    // One hold force-deleted, one key taken over by a value of another type: both between two ticks.
    await admin.del(stateKey('rb', 'lost-1'));
    await admin.del(stateKey('rb', 'lost-3'));
    await admin.set(stateKey('rb', 'lost-3'), 'not a lock');
    for (const i of [1, 3]) {
      const ending = await within(holdings[i]!.ended, 3_000, `hold ${i} told`);
      expect(ending.kind).toBe('error');
      const error = (ending as { error: unknown }).error;
      expect(error).toBeInstanceOf(LockLostError);
      expect((error as LockLostError).reason).toBe('gone');
      expect(abortedAt[i], `hold ${i}: signal aborted before the error`).toBeLessThanOrEqual(ending.at);
      expect(leases[i]!.signal.reason).toBe(error);
    }
    // Two more periods: the others are still held and renewed.
    await sleep(700);
    for (const i of [0, 2, 4]) {
      expect(holdings[i]!.ending(), `hold ${i}`).toBeUndefined();
      expect(leases[i]!.signal.aborted).toBe(false);
      expect(await admin.hget(stateKey('rb', names[i]!), 'w')).toBe(leases[i]!.token);
      expect(await admin.pttl(stateKey('rb', names[i]!))).toBeGreaterThan(300);
    }
    expect(await admin.get(stateKey('rb', 'lost-3')), 'the foreign value is left alone').toBe('not a lock');
  });

  it('holds with different leases on one client are all kept, each for its own lease', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const redis = kit.client(server.url);
    const leasesMs = [600, 900, 1_500, 600, 900, 1_500];
    const names = leasesMs.map((ms, i) => `mixed-${ms}-${i}`);
    const { holdings, leases } = await holdAll(redis, names, (i) => leasesMs[i]!);
    const seen = await watchRenewals(server.url);
    try {
      await sleep(2_000); // more than the longest lease: only renewals keep them
    } finally {
      await seen.stop();
    }
    for (const [i, name] of names.entries()) {
      expect(holdings[i]!.ending(), name).toBeUndefined();
      expect(await admin.hget(stateKey('rb', name), 'w')).toBe(leases[i]!.token);
      // A renewal asks for the hold's own lease: never more than it.
      const ttl = await admin.pttl(stateKey('rb', name));
      expect(ttl, `${name}: ttl`).toBeGreaterThan(0);
      expect(Number(await admin.hget(stateKey('rb', name), 'wx')) - Date.now(), `${name}: hold left`).toBeLessThanOrEqual(leasesMs[i]! + 50);
    }
    expect(seen.singles).toBe(0);
    expect(Math.max(...seen.batches), 'some batch carries holds of several leases').toBeGreaterThan(4);
  });

  it('a batch answered BUSY is retried until it gets through, and every hold of it survives', async () => {
    const server = await kit.server({ args: BUSY_SERVER_ARGS });
    const admin = kit.admin(server.url);
    const redis = kit.client(server.url);
    const LEASE = 3_000;
    const names = Array.from({ length: 5 }, (_, i) => `busy-${i}`);
    const { holdings, leases } = await holdAll(redis, names, LEASE);
    const acquiredAt = Math.min(...holdings.map((h) => h.leases[0]!.at));
    // Busy from shortly before the first tick (lease/3) until well after it.
    await sleep(Math.max(0, acquiredAt + LEASE / 3 - 200 - performance.now()));
    await busyFor(admin, 1_200);
    const seen = await watchRenewals(server.url);
    try {
      // Past the end of the leases as they stood before BUSY: only renewals after it keep them.
      await sleep(Math.max(0, acquiredAt + LEASE + 300 - performance.now()));
    } finally {
      await seen.stop();
    }
    for (const [i, name] of names.entries()) {
      expect(holdings[i]!.ending(), name).toBeUndefined();
      expect(leases[i]!.signal.aborted).toBe(false);
      expect(await admin.hget(stateKey('rb', name), 'w')).toBe(leases[i]!.token);
    }
    expect(seen.batches.length, 'renewals after BUSY').toBeGreaterThanOrEqual(1);
    expect(seen.batches.every((keys) => keys === 10), 'they went as one batch').toBe(true);
  });
});
