/**
 * One acquisition's life against an unhelpful Redis: an attempt whose reply
 * is late or never comes, Redis paused, Redis unreachable. These are the
 * regression specs of the review's defects 9.1a, 9.2 and 9.8 (each test says
 * which); times are compared on one clock, performance.now() in this process,
 * or the shared clock of sharedNow() with a worker.
 */
import { describe, expect, it } from 'vitest';
import { LockError, LockLostError, lock$ } from '../../src/index';
import { sharedNow, sleep, stateKey, useFaultKit, within } from '../faults/fault-kit';
import { getFreePort } from '../support/redis-server';
import type { WorkerProcess } from '../support/workers/spawn-worker';

const kit = useFaultKit();

describe('an attempt whose reply came too late (ioredis commandTimeout), retried', () => {
  // The first attempt takes the lock in Redis, but its reply comes after
  // commandTimeout, so yadl retries (every 100 ms). The first retry whose
  // reply comes in time gets the script's idempotent "acquired" for the hold
  // the first attempt took, which started in Redis before that retry was sent.
  const TTL = 1_000;
  const COMMAND_TIMEOUT = 150;
  const DELAY = 300;
  const DELAYED_FOR = 250;

  it('regression 9.2: the holder is told its hold ended no later than another owner acquires (never two holders)', async () => {
    const server = await kit.server();
    const direct = kit.client(server.url);
    // Loads yadl's scripts into Redis: otherwise the first attempt's EVALSHA only meets NOSCRIPT and takes nothing.
    const warmUp = kit.hold(lock$('warm-up', { redis: direct, prefix: 'acq' }));
    await within(warmUp.acquired, 5_000, 'the warm-up');
    warmUp.unsubscribe();
    const proxy = await kit.proxy(server);
    const data = kit.client(proxy.url, { commandTimeout: COMMAND_TIMEOUT });
    await data.ping();
    // Only the data connection is slowed: the subscriber connection yadl opens later is not.
    const [dataConnection] = proxy.connections();
    dataConnection!.delayReplies(DELAY);
    const start = performance.now();
    const first = kit.hold(lock$('two-holders', { redis: data, prefix: 'acq', ttl: TTL, redisTimeout: 5_000 }));
    await sleep(DELAYED_FOR);
    dataConnection!.delayReplies(0);
    const lease = await within(first.acquired, 5_000, 'the first owner');
    const acquiredAt = first.leases[0]!.at;
    let toldAt: number | undefined;
    lease.signal.addEventListener('abort', () => (toldAt ??= performance.now()));

    // Another owner, straight to Redis, takes the lock as soon as Redis has let the first hold go.
    const other = kit.hold(lock$('two-holders', { redis: direct, prefix: 'acq', timeout: 5_000 }));
    await within(other.acquired, 5_000, 'the other owner');
    const otherAt = other.leases[0]!.at;
    const ending = await within(first.ended, 5_000, 'the first owner being told');
    const endedAt = ending.at;
    console.log(
      `[9.2] from subscribing: first acquired at ${(acquiredAt - start).toFixed(0)} ms, ` +
        `other acquired at ${(otherAt - start).toFixed(0)} ms, first told at ${((toldAt ?? NaN) - start).toFixed(0)} ms ` +
        `(its lease error at ${(endedAt - start).toFixed(0)} ms): two believed holders for ${Math.max(0, (toldAt ?? endedAt) - otherAt).toFixed(0)} ms`,
    );
    expect(ending.kind).toBe('error');
    expect((ending as { error: unknown }).error).toBeInstanceOf(LockLostError);
    expect(lease.signal.reason).toBeInstanceOf(LockLostError);
    expect(toldAt).toBeDefined();
    expect(toldAt! - otherAt, 'ms by which the first holder was told after the other owner acquired').toBeLessThanOrEqual(0);
    expect(lease.fence).toBeLessThan(other.leases[0]!.lease.fence);
  });
});

describe('Redis paused (CLIENT PAUSE 3000) while an acquisition waits for its first reply', () => {
  const PAUSE = 3_000;
  const SLACK = 1_000;

  /** CLIENT PAUSE (all commands) for PAUSE ms; resolves with performance.now() once Redis confirmed it. */
  async function paused(url: string): Promise<number> {
    const admin = kit.admin(url);
    await admin.call('CLIENT', 'PAUSE', String(PAUSE));
    return performance.now();
  }

  async function expectNothingLeft(url: string, name: string, pausedAt: number): Promise<void> {
    await sleep(Math.max(0, pausedAt + PAUSE + 300 - performance.now()));
    const admin = kit.admin(url);
    // The attempt Redis ran after the pause may have taken the lock; it must have been given back.
    const deadline = performance.now() + 2_000;
    while ((await admin.exists(stateKey('acq', name))) === 1 && performance.now() < deadline) await sleep(50);
    expect(await admin.exists(stateKey('acq', name)), 'a key of the lock is left').toBe(0);
    const fresh = kit.hold(lock$(name, { redis: url, prefix: 'acq', timeout: 0 }));
    await within(fresh.acquired, 2_000, 'a fresh lock$ at once');
    fresh.unsubscribe();
  }

  it('regression 9.8: `timeout: 500` errors close to 500 ms, not when Redis answers; nothing is left held', async () => {
    const server = await kit.server();
    const client = kit.client(server.url);
    await client.ping();
    const pausedAt = await paused(server.url);
    const holding = kit.hold(lock$('paused-timeout', { redis: client, prefix: 'acq', timeout: 500 }));
    const ending = await within(holding.ended, PAUSE + 5_000, 'the timeout');
    const took = ending.at - holding.subscribedAt;
    console.log(`[9.8] timeout 500 under CLIENT PAUSE ${PAUSE}: errored after ${took.toFixed(0)} ms`);
    expect(ending.kind).toBe('error');
    expect((ending as { error: unknown }).error).toBeInstanceOf(LockError);
    expect(took).toBeGreaterThanOrEqual(495);
    expect(took, 'the timeout was held back until Redis answered').toBeLessThan(500 + SLACK);
    await expectNothingLeft(server.url, 'paused-timeout', pausedAt);
  });

  it('regression 9.8: a signal aborted at 700 ms errors close to 700 ms, not when Redis answers; nothing is left held', async () => {
    const server = await kit.server();
    const client = kit.client(server.url);
    await client.ping();
    const pausedAt = await paused(server.url);
    const abort = new AbortController();
    const reason = new Error('cancelled');
    const holding = kit.hold(lock$('paused-signal', { redis: client, prefix: 'acq', signal: abort.signal }));
    setTimeout(() => abort.abort(reason), 700);
    const ending = await within(holding.ended, PAUSE + 5_000, 'the abort');
    const took = ending.at - holding.subscribedAt;
    console.log(`[9.8] signal aborted at 700 ms under CLIENT PAUSE ${PAUSE}: errored after ${took.toFixed(0)} ms`);
    expect(ending).toMatchObject({ kind: 'error', error: reason });
    expect(took).toBeGreaterThanOrEqual(695);
    expect(took, 'the abort was held back until Redis answered').toBeLessThan(700 + SLACK);
    await expectNothingLeft(server.url, 'paused-signal', pausedAt);
  });
});

describe('an acquisition closed while its first attempt is in flight to an unreachable Redis', () => {
  // The spin this guards against blocks the event loop for good, so it runs
  // in a worker (spec/support/fault-workers/closed-in-flight.ts) that beats
  // every 20 ms and is killed when the beats stop.
  const REDIS_TIMEOUT = 2_000;
  // Room for a fixed yadl to give up on a late release by token (redisTimeout) before the worker checks it let go.
  const RUN_MS = REDIS_TIMEOUT + 2_000;
  const SLACK = 1_500;
  /** No beat for this long is a blocked event loop, not a busy machine. */
  const STALL_MS = 1_000;
  /** The worker's 10 ms interval may come this late on a loaded 2-core machine, and no later. */
  // A spin never answers; 500 ms tells it from a busy 2-core machine's scheduling delays.
  const MAX_LAG = 500;

  /** Undefined while the worker beats until it is done; otherwise how its beats stopped. */
  async function watchBeats(w: WorkerProcess, startedAt: number): Promise<string | undefined> {
    for (;;) {
      if (w.messages.some((m) => m.done === true)) return undefined;
      if (w.child.exitCode !== null || w.child.signalCode !== null) return `the worker exited early: ${w.stderr()}`;
      const beats = w.messages.filter((m) => m.beat !== undefined);
      const last = beats.at(-1);
      const lastAt = last === undefined ? startedAt : Number(last.at);
      const silent = sharedNow() - lastAt;
      if (silent > STALL_MS) {
        return `event loop blocked: no heartbeat for ${silent.toFixed(0)} ms, since ${(lastAt - startedAt).toFixed(0)} ms after subscribing (beat #${String(last?.beat ?? 0)})`;
      }
      await sleep(50);
    }
  }

  it.each(['timeout', 'signal', 'unsubscribe'])(
    'regression 9.1a: closed by %s during a MaxRetriesPerRequestError attempt, the process stays responsive, the subscription ends, nothing is left',
    async (how) => {
      const url = `redis://127.0.0.1:${await getFreePort()}/0`;
      const w = kit.worker('closed-in-flight.ts', {
        REDIS_URL: url,
        HOW: how,
        CLOSE_AFTER: '30',
        REDIS_TIMEOUT: String(REDIS_TIMEOUT),
        RUN_MS: String(RUN_MS),
      });
      const subscribed = await w.message((m) => m.subscribed === true);
      const blocked = await watchBeats(w, Number(subscribed.at));
      if (blocked !== undefined) w.kill(); // it would spin for ever
      expect(blocked, 'the worker stopped beating').toBeUndefined();

      const ended = w.messages.find((m) => m.ended !== undefined);
      if (how === 'unsubscribe') {
        expect(ended).toBeUndefined();
      } else {
        expect(ended, 'the subscription did not end').toBeDefined();
        expect(Number(ended!.after)).toBeLessThan(REDIS_TIMEOUT + SLACK);
        if (how === 'timeout') expect(ended!.lockError, String(ended!.message)).toBe(true);
        else expect(ended!.isReason, String(ended!.message)).toBe(true);
      }
      expect(w.messages.some((m) => m.acquired === true)).toBe(false);
      const done = w.messages.find((m) => m.done === true)!;
      expect(done.diagnostics).toEqual({ connectionUsers: 0, ownedClients: 0, channels: 0, waitQueues: 0 });
      expect(Number(done.maxLag)).toBeLessThan(MAX_LAG);
      // Its own client closed, the worker must exit by itself: yadl left nothing open.
      expect(await within(w.exited, 5_000, 'the worker exiting by itself')).toEqual({ code: 0, signal: null });
    },
  );
});
