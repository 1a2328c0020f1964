/**
 * Regression specs for defects of the per-process wait queue
 * (src/core/wait-queue.ts, src/core/acquisition.ts). Each asserts the fixed
 * behaviour; on the code they were written against, each failed as its
 * comment says.
 *
 * Several run on a Redis with CONFIG renamed away (as on a managed Redis):
 * yadl cannot turn on keyspace `expired` events there, so a hold that runs
 * out is noticed only at the waiters' deadline retry, which is what these
 * tests watch.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { LockLostError, lock$, type Lease } from '../../src/index';
import { channelOf, eventually, sleep, stateKey, subscribers, useFaultKit, within } from '../faults/fault-kit';
import type { Holding } from './holding';
import type { WorkerProcess } from '../support/workers/spawn-worker';

const kit = useFaultKit();
const NO_CONFIG = ['--rename-command', 'CONFIG', ''];
const PREFIX = 'q';

/** Server time in ms, the clock of every expiry in the lock's hash and of fences (fence / 1000). */
async function serverNow(admin: Redis): Promise<number> {
  const [seconds, micros] = await admin.time();
  return Number(seconds) * 1_000 + Number(micros) / 1_000;
}

/**
 * When a fixed-ttl hold ends in Redis (server ms): the script takes the fence
 * from the server clock in microseconds and sets the expiry to now + ttl in
 * the same step. (Read from the lease rather than the hash, which a
 * waiter's attempt may already have pruned.)
 */
const expiryOf = (lease: Lease): number => lease.fence / 1_000 + lease.ttl;

/** The waiting writers' marks (`q:<token>` fields) in the lock's hash. */
async function marks(admin: Redis, name: string): Promise<string[]> {
  return (await admin.hkeys(stateKey(PREFIX, name))).filter((field) => field.startsWith('q:'));
}

/** The lease, or 'still waiting' once `ms` passed without one (or an error) coming. */
async function leaseWithin(holding: Holding, ms: number): Promise<Lease | 'still waiting'> {
  const timer = sleep(ms).then(() => 'still waiting' as const);
  return Promise.race([holding.acquired, timer]);
}

async function scriptCalls(admin: Redis): Promise<number> {
  const info = await admin.info('commandstats');
  let calls = 0;
  for (const match of info.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+)/gm)) calls += Number(match[2]);
  return calls;
}

/**
 * Watches a worker's heartbeat ({"beat":n} every 20 ms) until it prints
 * {"done":...}; reports a stall when no beat came for `maxGapMs` (its event
 * loop is blocked), or when `withinMs` passed without done.
 */
async function watchHeartbeat(
  child: WorkerProcess,
  maxGapMs: number,
  withinMs: number,
): Promise<{ done: Record<string, unknown> } | { stalled: string }> {
  const started = performance.now();
  let beats = 0;
  let lastBeatAt = started;
  for (;;) {
    const done = child.messages.find((m) => m.done === true);
    if (done !== undefined) return { done };
    const now = performance.now();
    const seen = child.messages.filter((m) => typeof m.beat === 'number').length;
    if (seen !== beats) {
      beats = seen;
      lastBeatAt = now;
    }
    const lastRound = JSON.stringify(child.messages.filter((m) => m.round !== undefined).at(-1) ?? null);
    if (now - lastBeatAt > maxGapMs) return { stalled: `no heartbeat for ${Math.round(now - lastBeatAt)} ms, after ${lastRound}` };
    if (now - started > withinMs) return { stalled: `not done within ${withinMs} ms, after ${lastRound}` };
    if (child.child.exitCode !== null || child.child.signalCode !== null) return { stalled: `exited first:\n${child.stderr()}` };
    await sleep(50);
  }
}

describe('the wait queue', () => {
  // On the code this was written against, every run: "no heartbeat for 2000
  // ms, after {round: 4, scheduling: 'await', hops: 3}": cancelled 3 hops
  // after the reply that followed the blocked one, the closed acquisition
  // still joined the queue, whose attempt() -> 'gone' loop on that same head
  // never yielded.
  it('regression 9.1b: a lock$ cancelled just after its first attempt was refused leaves no queue spinning, and nothing open', async () => {
    const server = await kit.server();
    const child = kit.worker('close-race.ts', { REDIS_URL: server.url, PREFIX, NAME: 'race', MAX_HOPS: '20', REPEATS: '1' });
    await child.message((m) => m.ready === true);
    const watched = await watchHeartbeat(child, 2_000, 15_000);
    expect(watched, 'the event loop of the cancelling process').not.toHaveProperty('stalled');
    const { done } = watched as { done: Record<string, unknown> };
    expect(done.unexpected).toEqual([]);
    expect(done, 'yadl left things open').toMatchObject({ quiet: true });
    expect(await within(child.exited, 5_000, 'the worker exiting by itself')).toEqual({ code: 0, signal: null });
  });

  // On the code this was written against, C was still waiting 2.5 s after
  // B's expiry: the head B acquired on the queue's deadline wake, which left
  // no deadline for C, and without `expired` events nothing woke it again.
  it("regression 9.4: after the head acquires on a deadline wake, the next waiter still wakes at the new holder's expiry", async () => {
    const server = await kit.server({ args: NO_CONFIG });
    const admin = kit.admin(server.url);
    const name = 'deadline';
    const a = kit.hold(lock$(name, { redis: kit.client(server.url), prefix: PREFIX, ttl: 1_500 }));
    await within(a.acquired, 5_000, 'A');
    const b = kit.hold(lock$(name, { redis: server.url, prefix: PREFIX, ttl: 400 }));
    await eventually(async () => (await subscribers(admin, channelOf(PREFIX, name))) === 1, 3_000, 'B queued');
    const c = kit.hold(lock$(name, { redis: server.url, prefix: PREFIX }));
    await sleep(150);
    // C queued behind B while A still held: otherwise C's own first attempt would set its deadline.
    expect(b.leases, 'B acquired before C had joined (set-up too slow)').toHaveLength(0);
    expect(c.leases).toHaveLength(0);

    const bExpiry = expiryOf(await within(b.acquired, 1_500 + 2_000, "B (at A's deadline)"));
    const bEnd = await within(b.ended, 400 + 2_000, 'B losing its hold');
    expect(bEnd.kind === 'error' && bEnd.error instanceof LockLostError && bEnd.error.reason).toBe('expired');

    const cLease = await leaseWithin(c, Math.max(0, bExpiry - (await serverNow(admin))) + 2_500);
    if (cLease === 'still waiting') {
      expect.fail(`C still waiting ${((await serverNow(admin)) - bExpiry).toFixed(0)} ms after B's expiry (the lock free since)`);
    }
    const late = cLease.fence / 1_000 - bExpiry;
    console.log(`[9.4] C acquired ${late.toFixed(0)} ms after B's expiry`);
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late, "C acquiring within 1.5 s of B's expiry").toBeLessThan(1_500);
  });

  // On the code this was written against, W acquired 3.0 s after R1's expiry:
  // R2's join replaced the queue's deadline (R1's expiry) with its own, the
  // expiry of W's mark, one writer lease later.
  it("regression 9.5: a reader joining behind a waiting writer's mark does not push the writer's retry back by a lease", async () => {
    const server = await kit.server({ args: NO_CONFIG });
    const admin = kit.admin(server.url);
    const name = 'marked';
    const LEASE = 3_000;
    const r1 = kit.hold(lock$(name, { redis: kit.client(server.url), prefix: PREFIX, mode: 'read', ttl: 2_000 }));
    const r1Expiry = expiryOf(await within(r1.acquired, 5_000, 'R1'));
    const w = kit.hold(lock$(name, { redis: server.url, prefix: PREFIX, mode: 'write', lease: LEASE }));
    await eventually(async () => (await marks(admin, name)).length === 1, 3_000, "W's mark");
    await eventually(async () => (await subscribers(admin, channelOf(PREFIX, name))) === 1, 3_000, 'W subscribed');
    await sleep(150); // W's retry once its subscription is confirmed
    const r2 = kit.hold(lock$(name, { redis: server.url, prefix: PREFIX, mode: 'read' }));
    await sleep(150);
    // R2 must have joined while R1 still held: otherwise W got in at its deadline before R2 came.
    expect(r1Expiry - (await serverNow(admin)), 'R1 still holding once R2 queued (set-up too slow)').toBeGreaterThan(0);
    expect(w.leases).toHaveLength(0);
    expect(r2.leases).toHaveLength(0);

    const wLease = await leaseWithin(w, Math.max(0, r1Expiry - (await serverNow(admin))) + LEASE + 2_000);
    if (wLease === 'still waiting') expect.fail(`W still waiting ${((await serverNow(admin)) - r1Expiry).toFixed(0)} ms after R1's expiry`);
    const late = wLease.fence / 1_000 - r1Expiry;
    console.log(`[9.5] W acquired ${late.toFixed(0)} ms after R1's expiry (W's lease ${LEASE} ms)`);
    expect(late).toBeGreaterThanOrEqual(0);
    expect(late, "W acquiring within 1 s of R1's expiry, not a lease later").toBeLessThan(1_000);
  });

  // On the code this was written against: ~590 scripts in the idle second.
  // R2's deadline, the expiry of W's mark (reader ttl + W's lease, > 2^31-1
  // ms), overflowed setTimeout, which fires such a delay after 1 ms; every
  // retry re-armed it.
  it('regression 9.10: a wait longer than setTimeout can take (> 2^31-1 ms) does not retry every millisecond', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const name = 'forever';
    const r1 = kit.hold(lock$(name, { redis: kit.client(server.url), prefix: PREFIX, mode: 'read', ttl: 2 ** 31 - 1 }));
    await within(r1.acquired, 5_000, 'R1');
    // W on a client of its own: its queue is not R2's, so R2 is the head of its queue.
    const w = kit.hold(lock$(name, { redis: kit.client(server.url), prefix: PREFIX, mode: 'write' }));
    await eventually(async () => (await marks(admin, name)).length === 1, 3_000, "W's mark");
    const r2 = kit.hold(lock$(name, { redis: server.url, prefix: PREFIX, mode: 'read' }));
    await eventually(async () => (await subscribers(admin, channelOf(PREFIX, name))) === 2, 3_000, 'W and R2 subscribed');
    await sleep(300); // the retries once each subscription is confirmed

    const before = await scriptCalls(admin);
    await sleep(1_000);
    const during = (await scriptCalls(admin)) - before;
    console.log(`[9.10] scripts from the waiters during an idle second: ${during}`);
    expect(w.leases).toHaveLength(0);
    expect(r2.leases).toHaveLength(0);
    expect(during).toBeLessThan(10);
  });
});
