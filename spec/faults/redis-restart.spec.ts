/**
 * Redis is killed (SIGKILL) and started again on the same port without its
 * data (no persistence): holders learn that their hold is gone within about a
 * renewal period plus the reconnect, waiters reconnect and acquire, and
 * fences keep increasing although the counter was lost with the data.
 */
import { describe, expect, it } from 'vitest';
import { LockLostError, RedisLock, lock$ } from '../../src/index';
import { aborted } from '../facade/facade-fixture';
import { channelOf, eventually, subscribers, useFaultKit, within } from './fault-kit';

const kit = useFaultKit();
const LEASE = 600;

describe('Redis restarts and loses its data', () => {
  it('a ttl-less holder (lease 600 ms) is told, on lock$ and through the facade signal, within 3 s', async () => {
    const server = await kit.server();
    const holding = kit.hold(lock$('restart-holder', { redis: server.url, prefix: 'r', lease: LEASE }));
    const before = await within(holding.acquired, 5_000, 'the lock$ holder');
    const facade = new RedisLock('restart-facade', { redis: server.url, prefix: 'r', lease: LEASE });
    expect(await facade.acquire({ timeout: 5_000 })).toBe(true);
    const signal = facade.signal as AbortSignal;

    const killedAt = performance.now();
    server.kill('SIGKILL');
    await server.restart();
    const restartedAt = performance.now();

    const ending = await within(holding.ended, 3_000, 'the lock$ holder being told');
    const reason = await aborted(signal, Math.max(100, 3_000 - (performance.now() - killedAt)));
    const toldAfter = ending.at - killedAt;
    console.log(
      `[restart] restart took ${(restartedAt - killedAt).toFixed(0)} ms; lock$ holder told after ` +
        `${toldAfter.toFixed(0)} ms (${ending.kind === 'error' ? (ending.error as LockLostError).reason : ending.kind})`,
    );
    expect(ending.kind).toBe('error');
    const error = (ending as { error: unknown }).error;
    expect(error).toBeInstanceOf(LockLostError);
    expect(['gone', 'unconfirmed']).toContain((error as LockLostError).reason);
    expect(before.signal.aborted).toBe(true);
    expect(before.signal.reason).toBe(error);
    expect(toldAfter).toBeLessThan(3_000);
    expect(reason).toBeInstanceOf(LockLostError);
    expect(['gone', 'unconfirmed']).toContain((reason as LockLostError).reason);
    expect(facade.fence).toBeUndefined();

    // The holder's instance works again once the server is back.
    expect(await facade.acquire({ timeout: 5_000 })).toBe(true);
    expect(facade.fence).toBeGreaterThan(before.fence);
    await facade.release();
  });

  it('waiters reconnect after the restart and one acquires; new acquisitions work; fences do not go backwards', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    // The blocking holder renews a lease of 600 ms; its hold dies with the server's data.
    const blocker = kit.hold(lock$('contended', { redis: server.url, prefix: 'r', lease: LEASE }));
    const blocked = await within(blocker.acquired, 5_000, 'the blocker');
    const waiters = [1, 2].map(() => kit.hold(lock$('contended', { redis: server.url, prefix: 'r' })));
    await eventually(async () => (await subscribers(admin, channelOf('r', 'contended'))) === 1, 5_000, 'the waiters subscribed');
    const other = kit.hold(lock$('other', { redis: server.url, prefix: 'r' }));
    const otherBefore = await within(other.acquired, 5_000, 'the other lock');
    other.unsubscribe();
    await eventually(async () => (await admin.exists('r:lock:{other}')) === 0, 2_000, 'the other lock released');

    const killedAt = performance.now();
    server.kill('SIGKILL');
    await server.restart();

    const first = await within(Promise.race(waiters.map((w) => w.acquired)), 5_000, 'a waiter acquiring after the restart');
    const acquiredAfter = performance.now() - killedAt;
    const winner = waiters.find((w) => w.leases.length > 0);
    const loser = waiters.find((w) => w !== winner);
    expect(winner).toBeDefined();
    expect(loser?.leases).toHaveLength(0);
    expect(first.fence).toBeGreaterThan(blocked.fence);
    const blockerEnd = await within(blocker.ended, 3_000, 'the blocker being told');
    console.log(
      `[restart] a waiter acquired ${acquiredAfter.toFixed(0)} ms after the kill; the old holder was told after ` +
        `${(blockerEnd.at - killedAt).toFixed(0)} ms`,
    );
    expect((blockerEnd as { error?: unknown }).error).toBeInstanceOf(LockLostError);

    // Mutual exclusion holds again among those who reconnected: the other waiter gets it on release.
    await new Promise((resolve) => setTimeout(resolve, 200));
    expect(loser?.leases).toHaveLength(0);
    winner?.unsubscribe();
    const second = await within(loser!.acquired, 2_000, 'the second waiter');
    expect(second.fence).toBeGreaterThan(first.fence);
    loser?.unsubscribe();

    // A new acquisition (a name whose fence counter the restart lost) works and its fence moved on.
    const again = kit.hold(lock$('other', { redis: server.url, prefix: 'r' }));
    const otherAfter = await within(again.acquired, 5_000, 'the other lock after the restart');
    expect(otherAfter.fence).toBeGreaterThan(otherBefore.fence);
    again.unsubscribe();
  });
});
