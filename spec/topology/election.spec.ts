/**
 * Elections on a Redis Cluster (3+3) and through Sentinel: a term, leader$
 * following it, a proclaim, a resign handing over to the other candidate,
 * and an unsubscribe ending the last term. The election's keys share one
 * hash tag, so its scripts and its channel live on the slot's primary.
 */
import { Cluster, Redis } from 'ioredis';
import type { Subscription } from 'rxjs';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { elect$, leader$, type Leader, type RedisSource, type Term } from '../../src/index';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';
import { startSentinelSetup, type SentinelSetupHandle } from '../support/redis-sentinel';
import { waitFor } from './topology';

const subscriptions: Subscription[] = [];
let timersBefore = 0;
beforeEach(() => {
  timersBefore = activeTimers();
});
afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  await expectQuiescent(timersBefore, 10_000);
});

async function scenario(redis: () => RedisSource, prefix: string): Promise<void> {
  const seen: (Leader | null)[] = [];
  subscriptions.push(leader$('topo', { redis: redis(), prefix }).subscribe((l) => seen.push(l)));
  await waitFor(() => seen.length === 1, 10_000, 'leader$ to start');
  const a: (Term | null)[] = [];
  const b: (Term | null)[] = [];
  const subA = elect$('topo', { redis: redis(), prefix, value: 'a', lease: 2_000 }).subscribe((t) => a.push(t));
  subscriptions.push(subA);
  await waitFor(() => a.length === 1, 10_000, 'a term for a');
  const subB = elect$('topo', { redis: redis(), prefix, value: 'b', lease: 2_000 }).subscribe((t) => b.push(t));
  subscriptions.push(subB);
  const ta = a[0]!;
  await ta.proclaim('a2');
  await new Promise((resolve) => setTimeout(resolve, 200));
  await ta.resign();
  await waitFor(() => b.length === 1, 5_000, 'b to take over');
  const tb = b[0]!;
  subB.unsubscribe();
  await waitFor(() => a.length === 3, 10_000, 'a again');
  const ta2 = a[2]!;
  subA.unsubscribe();
  // leader$ may go from one term straight to the next without a null between
  // (README, "Observing"): under load the end and the next start can arrive
  // in one read. The terms, in order and each once, are what it owes.
  const terms = (): Leader[] => seen.filter((l): l is Leader => l !== null);
  await waitFor(() => terms().some((l) => l.fence === ta2.fence), 10_000, 'leader$ to see it all');
  expect(seen[0]).toBeNull();
  expect(terms()).toEqual([
    { fence: ta.fence, value: 'a' },
    { fence: ta.fence, value: 'a2' },
    { fence: tb.fence, value: 'b' },
    { fence: ta2.fence, value: 'a2' },
  ]);
  expect(tb.fence).toBeGreaterThan(ta.fence);
  expect(ta2.fence).toBeGreaterThan(tb.fence);
}

describe('elections on a Redis Cluster', { timeout: 120_000 }, () => {
  let cluster: RedisClusterHandle;
  const clients: Cluster[] = [];
  beforeAll(async () => {
    cluster = await startRedisCluster();
  }, 120_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    await cluster?.stop();
  });

  it('elects, follows, proclaims and hands over, on a Cluster client and on { cluster }', async () => {
    await scenario(() => ({ cluster: cluster.seeds }), 'own');
    const client = new Cluster(cluster.seeds);
    clients.push(client);
    await scenario(() => client, 'passed');
  });
});

describe('elections through Sentinel', { timeout: 120_000 }, () => {
  let setup: SentinelSetupHandle;
  const clients: Redis[] = [];
  beforeAll(async () => {
    setup = await startSentinelSetup();
  }, 120_000);
  afterAll(async () => {
    await Promise.all(clients.map((c) => c.quit().catch(() => c.disconnect())));
    await setup?.stop();
  });

  it('elects, follows, proclaims and hands over', async () => {
    await scenario(() => ({ sentinels: setup.sentinels, name: setup.name }), 'sentinel');
  });
});
