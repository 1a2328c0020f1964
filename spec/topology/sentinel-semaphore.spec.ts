/**
 * Semaphores through Redis Sentinel (a primary, a replica, three
 * sentinels): grants with `replicas: 1` wait for the replica's
 * acknowledgement (the confirm script), the replica has the grant, and a
 * release wakes a waiter.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RedisSemaphore } from '../../src/index';
import { semaphoreKeys } from '../../src/redis/keys';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { startSentinelSetup, type SentinelSetupHandle } from '../support/redis-sentinel';

let setup: SentinelSetupHandle;

beforeAll(async () => {
  setup = await startSentinelSetup();
  await setup.waitForReplica();
}, 120_000);

afterAll(async () => {
  await setup.stop();
});

describe('semaphores through Sentinel', () => {
  it('grants with replicas: 1 reach the replica before they are held; a release wakes a waiter', { timeout: 60_000 }, async () => {
    const timers = activeTimers();
    const redis = { sentinels: setup.sentinels, name: setup.name };
    const holder = new RedisSemaphore('pool', { redis, prefix: 'ss', limit: 2, replicas: 1 });
    const waiter = new RedisSemaphore('pool', { redis, prefix: 'ss', replicas: 1 });
    expect(await holder.acquire({ permits: 2 })).toBe(true);
    const primary = await setup.primaryPort();
    const replica = setup.dataPorts.find((port) => port !== primary) as number;
    const onReplica = (await setup.command(replica, 'HGETALL', semaphoreKeys('ss', 'pool', 0).state)) as string[];
    expect(onReplica.filter((field) => field.startsWith('p:')), 'the grant, on the replica').toHaveLength(1);

    const waiting = waiter.acquire({ timeout: 5_000 });
    await new Promise((resolve) => setTimeout(resolve, 50));
    await holder.release();
    expect(await waiting).toBe(true);
    expect(await waiter.available()).toBe(0);
    await Promise.all([holder.release(), waiter.release()]);
    expect(await holder.available()).toBe(2);
    await expectQuiescent(timers);
  });
});
