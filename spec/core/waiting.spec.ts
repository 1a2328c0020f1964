import { Redis } from 'ioredis';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { lock$, type LockOptions } from '../../src/index';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';
import { sleep, subscribeLock, waitFor, within, type Holding } from './holding';

const redis = useRedis();
let timersBefore = 0;
const holdings: Holding[] = [];
const servers: RedisServerHandle[] = [];
const serverClients: Redis[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  for (const h of holdings.splice(0)) h.unsubscribe();
  await expectQuiescent(timersBefore);
  await Promise.all(serverClients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function hold(name: string, opts: LockOptions): Holding {
  const h = subscribeLock(lock$(name, opts));
  holdings.push(h);
  return h;
}

/** The lock is free: a single attempt from another client gets it (and gives it back). */
async function expectFree(name: string, prefix: string, client: Redis): Promise<void> {
  const probe = subscribeLock(lock$(name, { redis: client, prefix, timeout: 0 }));
  try {
    await within(probe.acquired, 2_000, 'the probe');
  } finally {
    probe.unsubscribe();
  }
  await waitFor(() => diagnostics.connectionUsers === 0, 2_000, 'the probe released');
}

/** Calls per command since the last CONFIG RESETSTAT, e.g. { evalsha: 3 } (failed calls not counted). */
async function commandCalls(admin: Redis): Promise<Record<string, number>> {
  const info = await admin.info('commandstats');
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_(\S+?):calls=(\d+).*?failed_calls=(\d+)/gm)) {
    calls[match[1]!] = Number(match[2]) - Number(match[3]);
  }
  return calls;
}

const scriptCalls = (calls: Record<string, number>): number => (calls.evalsha ?? 0) + (calls.eval ?? 0);

describe('waiting', () => {
  it('unsubscribing while waiting leaves no waiter and takes nothing later', async () => {
    const prefix = redis.prefix();
    const opts = { redis: redis.client(), prefix };
    const holder = hold('leave', opts);
    await holder.acquired;
    const waiter = hold('leave', opts);
    await waitFor(() => diagnostics.waitQueues === 1, 2_000, 'the waiter queued');

    waiter.unsubscribe();
    expect(diagnostics.waitQueues).toBe(0);
    holder.unsubscribe();
    await waitFor(() => diagnostics.connectionUsers === 0, 2_000, 'the holder released');
    await sleep(50);
    expect(waiter.leases).toHaveLength(0);
    await expectFree('leave', prefix, redis.client());
  });

  it('when the head of the queue leaves, the next waiter gets the lock', async () => {
    const opts = { redis: redis.client(), prefix: redis.prefix() };
    const holder = hold('head', opts);
    await holder.acquired;
    const waiters = [hold('head', opts), hold('head', opts), hold('head', opts)];
    await sleep(50);
    waiters[0]!.unsubscribe();
    holder.unsubscribe();

    await within(waiters[1]!.acquired, 2_000, 'the second waiter');
    await sleep(50);
    expect(waiters[2]!.leases).toHaveLength(0);
    waiters[1]!.unsubscribe();
    await within(waiters[2]!.acquired, 2_000, 'the third waiter');
    expect(waiters[0]!.leases).toHaveLength(0);
  });

  it('unsubscribing while the acquire command is in flight does not leak the lock', async () => {
    const prefix = redis.prefix();
    const client = redis.client();
    const prober = redis.client();
    // sync: in the same tick; micro: after the current job; then 0..3 ms timers.
    const delays = ['sync', 'micro', 'immediate', 0, 1, 2, 3] as const;
    let leasedBeforeUnsubscribe = 0;
    for (let i = 0; i < 56; i++) {
      const delay = delays[i % delays.length]!;
      const h = subscribeLock(lock$('in-flight', { redis: client, prefix }));
      if (delay === 'micro') await Promise.resolve();
      else if (delay === 'immediate') await new Promise((resolve) => setImmediate(resolve));
      else if (delay !== 'sync') await sleep(delay);
      if (h.leases.length > 0) leasedBeforeUnsubscribe += 1;
      h.unsubscribe();
      expect(h.ending()).toBeUndefined();
      // Once the acquisition let its connection go, whatever it took was given back.
      await waitFor(() => diagnostics.connectionUsers === 0, 2_000, `iteration ${i} settled`);
      await expectFree('in-flight', prefix, prober);
    }
    // 'sync' always unsubscribes with the command in flight (8 of 56); timers often come after the lease.
    expect(leasedBeforeUnsubscribe).toBeLessThanOrEqual(56 - 8);
  });

  it('unsubscribing during the first attempt on a held lock leaves no waiter', async () => {
    const prefix = redis.prefix();
    const client = redis.client();
    const holder = hold('in-flight-held', { redis: client, prefix });
    await holder.acquired;
    for (let i = 0; i < 20; i++) {
      const h = subscribeLock(lock$('in-flight-held', { redis: client, prefix }));
      if (i % 2 === 1) await sleep(i % 4);
      h.unsubscribe();
    }
    await sleep(50);
    expect(diagnostics.waitQueues).toBe(0);
    holder.unsubscribe();
    await waitFor(() => diagnostics.connectionUsers === 0, 2_000, 'all settled');
    await expectFree('in-flight-held', prefix, redis.client());
  });

  it('a process that waits again for the lock it just waited for makes one blocked attempt per wait, not two', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const admin = new Redis(server.url);
    serverClients.push(admin);
    // Two connections (two wait queues, as two processes have): they take turns, each acquisition a contended one.
    const urls = ['turn-a', 'turn-b'].map((name) => `${server.url}?connectionName=${name}`);
    const opts = (i: number): LockOptions => ({ redis: urls[i % 2]!, prefix: 'turns' });
    let held = hold('turns', opts(0));
    await held.acquired;
    await admin.config('RESETSTAT');
    const rounds = 20;
    for (let i = 1; i <= rounds; i++) {
      const next = hold('turns', opts(i));
      // Its first attempt is blocked and it queues before the release.
      await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the next waiter queued');
      held.unsubscribe();
      await within(next.acquired, 5_000, `turn ${i}`);
      held = next;
    }
    held.unsubscribe();
    await waitFor(() => diagnostics.connectionUsers === 0, 5_000, 'the last release');
    const scripts = scriptCalls(await commandCalls(admin));
    // Per turn: the blocked first attempt, the attempt its wake-up makes, the release before it. A queue
    // that stopped listening when its waiter acquired used to try once more on its new subscription.
    expect(scripts / rounds, `${scripts} scripts for ${rounds} turns`).toBeLessThanOrEqual(3.2);
  });

  it('sends nothing while 20 waiters wait, and wakes one waiter per release', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const admin = new Redis(server.url);
    serverClients.push(admin);
    const opts = { redis: server.url, prefix: 'poll' };

    const holder = hold('busy', opts);
    await holder.acquired;
    const waiters = Array.from({ length: 20 }, () => hold('busy', opts));
    for (const w of waiters) void w.acquired.then(() => w.unsubscribe(), () => undefined);
    // Every waiter made its first attempt, and the queue settled.
    await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the queue');
    let seen = -1;
    for (let polls = 0; ; polls++) {
      const calls = scriptCalls(await commandCalls(admin));
      if (calls >= 21 && calls === seen) break;
      if (polls > 50) throw new Error(`the first attempts did not settle: ${calls} script calls`);
      seen = calls;
      await sleep(200);
    }
    const waitingAttempts = seen - 1;
    expect(await admin.call('PUBSUB', 'NUMSUB', '__keyspace@0__:poll:lock:{busy}')).toEqual([
      '__keyspace@0__:poll:lock:{busy}',
      1, // one subscription for all 20 waiters
    ]);

    await admin.config('RESETSTAT');
    await sleep(1_500);
    const duringWait = await commandCalls(admin);
    expect(scriptCalls(duringWait), JSON.stringify(duringWait)).toBe(0);
    const others = Object.keys(duringWait).filter((c) => !/^(info|config\|resetstat)$/.test(c));
    expect(others, JSON.stringify(duringWait)).toEqual([]);

    await admin.config('RESETSTAT');
    const released = performance.now();
    holder.unsubscribe();
    await within(Promise.all(waiters.map((w) => w.acquired)), 10_000, 'all 20 waiters');
    const lastAcquired = performance.now();
    await waitFor(() => diagnostics.connectionUsers === 0, 5_000, 'the last release');
    const afterRelease = scriptCalls(await commandCalls(admin));
    const releases = 21; // the holder's and each waiter's
    const perAcquisition = afterRelease / 20;
    const attemptsPerAcquisition = (afterRelease - releases) / 20;
    console.log(
      `[no-polling] acquire attempts while queueing: ${waitingAttempts} for 20 waiters; ` +
        `after release: ${afterRelease} EVALSHA for 20 acquisitions = ${perAcquisition.toFixed(2)} per acquisition ` +
        `(${attemptsPerAcquisition.toFixed(2)} acquire attempts + 1 release); 20 handoffs in ${(lastAcquired - released).toFixed(0)} ms`,
    );

    // Arrival order, one after another, each hold after the previous one.
    const acquisitions = waiters.map((w) => w.leases[0]!);
    for (let k = 1; k < acquisitions.length; k++) {
      expect(acquisitions[k]!.at).toBeGreaterThan(acquisitions[k - 1]!.at);
      expect(acquisitions[k]!.lease.fence).toBeGreaterThan(acquisitions[k - 1]!.lease.fence);
    }
    expect(attemptsPerAcquisition).toBeLessThan(3); // a herd would be ~10 (20 + 19 + ... + 1 over 20)
  });
});
