import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { LockLostError, LockTimeoutError, RedisLock, type LockOptions } from '../../src/index';
import { startSentinelSetup, type SentinelSetupHandle } from '../support/redis-sentinel';
import { overlapping, sleep, stateKey, waitFor, within, holdLock, ownClient, type Holding, type HoldSpan, useTopology } from './topology';

/**
 * yadl through Redis Sentinel (a primary, a replica, three sentinels), with
 * a forced failover (SENTINEL FAILOVER) under holding and waiting locks.
 */
let setup: SentinelSetupHandle;
let prefixes = 0;
const hooks = useTopology(async () => (setup = await startSentinelSetup()));

/** What yadl gets as `redis` to open its own connection through the sentinels. */
const viaSentinels = (): { sentinels: { host: string; port: number }[]; name: string } => ({
  sentinels: setup.sentinels,
  name: setup.name,
});

/** A caller's own client through the sentinels. */
function connect(extra: { failoverDetector?: boolean } = {}): Redis {
  return ownClient(hooks, new Redis({ ...viaSentinels(), ...extra }));
}

const prefix = (): string => `s${++prefixes}-${process.pid}`;

const hold = (name: string, opts: LockOptions): Holding => holdLock(hooks, name, opts);

async function handoff(holderOpts: LockOptions, waiterOpts: LockOptions): Promise<number> {
  const holder = hold('relay', holderOpts);
  await within(holder.acquired, 5_000, 'holder');
  const waiter = hold('relay', waiterOpts);
  await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the waiter queued');
  await sleep(50);
  const released = performance.now();
  holder.unsubscribe();
  await within(waiter.acquired, 2_000, 'handoff');
  waiter.unsubscribe();
  return waiter.leases[0]!.at - released;
}

describe('yadl through Redis Sentinel', () => {
  it('locks and hands over promptly through { sentinels, name } and through a caller-made Sentinel client', async () => {
    const p = prefix();
    const user = connect();
    const delays = [
      await handoff({ redis: viaSentinels(), prefix: p }, { redis: viaSentinels(), prefix: p }),
      await handoff({ redis: user, prefix: p }, { redis: user, prefix: p }),
      await handoff({ redis: viaSentinels(), prefix: p }, { redis: user, prefix: p }),
      await handoff({ redis: user, prefix: p }, { redis: viaSentinels(), prefix: p }),
    ];
    console.log(`[sentinel] handoffs: ${delays.map((d) => d.toFixed(1)).join(', ')} ms`);
    for (const delay of delays) expect(delay).toBeLessThan(500);
    // The lock lives on the primary the sentinels name.
    const lock = new RedisLock('facade', { redis: viaSentinels(), prefix: p });
    expect(await lock.acquire()).toBe(true);
    expect(await setup.command(await setup.primaryPort(), 'EXISTS', stateKey(p, 'facade'))).toBe(1);
    await lock.release();
  });

  it('replicas: 1 acquires on the sentinel primary once its replica has the hold', async () => {
    const p = prefix();
    const acked = hold('acked', { redis: viaSentinels(), prefix: p, replicas: 1 });
    await within(acked.acquired, 5_000, 'replicas: 1');
    const primary = await setup.primaryPort();
    const replica = setup.dataPorts.find((port) => port !== primary)!;
    expect(await setup.command(replica, 'HGET', stateKey(p, 'acked'), 'w')).toBe(acked.leases[0]!.lease.token);
  });

  it('keeps working across SENTINEL FAILOVER, and never lets two hold at once', async () => {
    const p = prefix();
    const detecting = connect({ failoverDetector: true });
    // Holders whose last renewals may not reach the replica before it is promoted. Lease 6 s:
    // renewed every 2 s, so a holder that follows the new primary renews its replicated copy in time.
    const holders = {
      'yadl-made connection': hold('owned', { redis: viaSentinels(), prefix: p, lease: 6_000 }),
      'caller client with failoverDetector': hold('detected', { redis: detecting, prefix: p, lease: 6_000 }),
    };
    // A hold a replica acknowledged, with a waiter across the failover.
    const acked = hold('acked', { redis: detecting, prefix: p, replicas: 1 });
    await within(Promise.all([...Object.values(holders), acked].map((h) => h.acquired)), 5_000, 'holders');
    const waiter = hold('acked', { redis: viaSentinels(), prefix: p });
    await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the waiter queued');
    await sleep(50);
    const oldPrimary = await setup.primaryPort();

    const failoverAt = performance.now();
    const newPrimary = await setup.failover();
    const switchedAt = performance.now();
    expect(newPrimary).not.toBe(oldPrimary);

    // Contenders from a connection made after the failover (so to the new primary).
    const fresh = connect();
    const contenders = {
      'yadl-made connection': hold('owned', { redis: fresh, prefix: p, timeout: 8_000 }),
      'caller client with failoverDetector': hold('detected', { redis: fresh, prefix: p, timeout: 8_000 }),
    };
    // New acquisitions through the yadl-made connection opened before the failover: when do they land on the new primary?
    const landing = (async (): Promise<number | undefined> => {
      for (let i = 0; performance.now() - switchedAt < 12_000; i++) {
        const probe = hold(`probe-${i}`, { redis: viaSentinels(), prefix: p, timeout: 0 });
        const lease = await within(probe.acquired, 5_000, 'a probe').catch(() => undefined);
        const onNew = lease && (await setup.command(newPrimary, 'HGET', stateKey(p, `probe-${i}`), 'w')) === lease.token;
        probe.unsubscribe();
        if (onNew) return performance.now() - failoverAt;
        await sleep(100);
      }
      return undefined;
    })();

    // The acknowledged hold survives; its waiter acquires once it is released, on the new primary.
    await sleep(500);
    expect.soft(acked.ending(), 'the replica-acknowledged hold survived').toBeUndefined();
    const releasedAt = performance.now();
    acked.unsubscribe();
    const waited = await within(waiter.acquired, 8_000, 'the waiter across the failover').catch((e: unknown) => e);
    expect.soft(waited, 'the waiter across the failover acquires').not.toBeInstanceOf(Error);
    if (!(waited instanceof Error)) {
      console.log(`[sentinel] the waiter across the failover acquired ${(waiter.leases[0]!.at - releasedAt).toFixed(0)} ms after the release`);
      expect.soft(await setup.command(newPrimary, 'HGET', stateKey(p, 'acked'), 'w'), 'the waiter holds on the new primary').toBe(waiter.leases[0]!.lease.token);
    }

    // Each holder is told it lost the hold, or keeps holding while its contender does not acquire.
    await Promise.all(Object.values(contenders).map((c) => Promise.race([c.acquired, c.ended]).catch(() => undefined)));
    for (const [label, holder] of Object.entries(holders) as [keyof typeof holders, Holding][]) {
      const contender = contenders[label];
      const end = holder.ending();
      const spans: HoldSpan[] = [{ who: 'holder', from: holder.leases[0]!.at, to: end?.at ?? performance.now() }];
      if (contender.leases[0]) spans.push({ who: 'contender', from: contender.leases[0].at, to: performance.now() });
      const outcome = end?.kind === 'error' ? `told (${String((end.error as LockLostError).reason)}) ${(end.at - failoverAt).toFixed(0)} ms after the failover began` : 'still holds';
      const rival = contender.leases[0] ? `a new client acquired ${(contender.leases[0].at - failoverAt).toFixed(0)} ms after it began` : 'no new client acquired';
      console.log(`[sentinel] holder on a ${label}: ${outcome}; ${rival}`);
      if (end !== undefined) expect.soft(end.kind === 'error' && end.error instanceof LockLostError, `${label}: ${outcome}`).toBe(true);
      else expect.soft(contender.ending()?.kind === 'error' && (contender.ending() as { error: unknown }).error instanceof LockTimeoutError, `${label}: ${rival}`).toBe(true);
      expect.soft(overlapping(spans), `${label}: holder ${outcome}, ${rival}: two holders at once`).toBeUndefined();
    }

    const landedAfter = await landing;
    console.log(
      `[sentinel] failover: the sentinels named the new primary ${(switchedAt - failoverAt).toFixed(0)} ms after SENTINEL FAILOVER; ` +
        `a new acquisition through the connection yadl opened before it landed on the new primary ${landedAfter === undefined ? 'never (12 s)' : `${landedAfter.toFixed(0)} ms`} after`,
    );
    expect(landedAfter, 'new acquisitions reach the new primary').toBeDefined();
  }, 45_000);
});
