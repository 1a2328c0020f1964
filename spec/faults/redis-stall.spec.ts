/**
 * Redis stalls for longer than a lease (DEBUG SLEEP, or CLIENT PAUSE WRITE,
 * which holds scripts back) while a ttl-less holder (lease 600 ms) holds. Its
 * renewals cannot get through, so it must be told ('unconfirmed') before
 * another owner can have acquired. "Before" is checked on one clock: the
 * holder's time of being told (epoch ms on this machine) against the other
 * owner's fence, which is the Redis server's clock, in microseconds, when it
 * acquired (the server runs on this machine).
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { LockLostError, RedisLock, lock$ } from '../../src/index';
import { aborted } from '../facade/facade-fixture';
import { sharedNow, sleep, useFaultKit, within } from './fault-kit';

const kit = useFaultKit();
const LEASE = 600;
const STALL_MS = 1_500;

const stalls: Record<string, (admin: Redis) => Promise<unknown>> = {
  'DEBUG SLEEP 1.5': (admin) => admin.call('DEBUG', 'SLEEP', String(STALL_MS / 1_000)),
  'CLIENT PAUSE 1500 WRITE': (admin) => admin.call('CLIENT', 'PAUSE', String(STALL_MS), 'WRITE'),
};

describe('Redis stalls longer than a lease', () => {
  it.each(Object.keys(stalls))('%s: the holder is told before another owner can acquire', async (stall) => {
    const server = await kit.server({ args: ['--enable-debug-command', 'yes'] });
    const admin = kit.admin(server.url);
    const holding = kit.hold(lock$('stalled', { redis: server.url, prefix: 'st', lease: LEASE }));
    const held = await within(holding.acquired, 5_000, 'the holder');
    const facade = new RedisLock('stalled-facade', { redis: server.url, prefix: 'st', lease: LEASE });
    expect(await facade.acquire({ timeout: 5_000 })).toBe(true);
    const facadeSignal = facade.signal as AbortSignal;
    const facadeToldAt = aborted(facadeSignal, 5_000).then((reason) => ({ reason, at: sharedNow() }));
    // The other owner waits on a connection of its own, with a timeout.
    const other = kit.hold(lock$('stalled', { redis: kit.client(server.url), prefix: 'st', timeout: 8_000 }));
    await sleep(LEASE / 3 + 50); // a renewal went through

    const stalledAt = sharedNow();
    const stalled = stalls[stall]!(admin);
    const ending = await within(holding.ended, 5_000, 'the holder being told');
    const toldAt = performance.timeOrigin + ending.at;
    const lease = await within(other.acquired, 8_000, 'the other owner');
    const otherAcquiredInRedisAt = lease.fence / 1_000; // server clock, ms
    const facadeTold = await facadeToldAt;
    await stalled;
    console.log(
      `[${stall}] holder told ${(toldAt - stalledAt).toFixed(0)} ms into the stall; the other owner acquired ` +
        `${(otherAcquiredInRedisAt - stalledAt).toFixed(0)} ms into it (Redis clock), ` +
        `${(otherAcquiredInRedisAt - toldAt).toFixed(0)} ms after the holder was told`,
    );

    expect(ending.kind).toBe('error');
    const error = (ending as { error: unknown }).error as LockLostError;
    expect(error).toBeInstanceOf(LockLostError);
    expect(error.reason).toBe('unconfirmed');
    expect(held.signal.reason).toBe(error);
    expect(toldAt).toBeLessThan(otherAcquiredInRedisAt);
    expect(toldAt - stalledAt).toBeLessThan(LEASE + 300);
    expect(lease.fence).toBeGreaterThan(held.fence);
    expect(facadeTold.reason).toBeInstanceOf(LockLostError);
    expect((facadeTold.reason as LockLostError).reason).toBe('unconfirmed');
    expect(facadeTold.at).toBeLessThan(stalledAt + STALL_MS);
    expect(facade.fence).toBeUndefined();
    other.unsubscribe();
  });

  it("only the holder's connection stalls (a frozen proxy): it is told before the waiter, which sees Redis, acquires", async () => {
    const server = await kit.server();
    const proxy = await kit.proxy(server);
    const holding = kit.hold(lock$('partitioned', { redis: proxy.url, prefix: 'st', lease: LEASE }));
    const held = await within(holding.acquired, 5_000, 'the holder');
    // The waiter talks to Redis directly and attempts again right when the hold expires there.
    const other = kit.hold(lock$('partitioned', { redis: kit.client(server.url), prefix: 'st', timeout: 8_000 }));
    await sleep(LEASE / 3 + 50);
    const frozenAt = sharedNow();
    proxy.freeze();
    const ending = await within(holding.ended, 5_000, 'the holder being told');
    const toldAt = performance.timeOrigin + ending.at;
    const lease = await within(other.acquired, 5_000, 'the other owner');
    const otherAcquiredInRedisAt = lease.fence / 1_000;
    console.log(
      `[holder partitioned] holder told ${(toldAt - frozenAt).toFixed(0)} ms after the freeze; the other owner acquired ` +
        `${(otherAcquiredInRedisAt - toldAt).toFixed(1)} ms after that (Redis clock)`,
    );
    expect((ending as { error?: LockLostError }).error?.reason).toBe('unconfirmed');
    expect(held.signal.aborted).toBe(true);
    expect(toldAt).toBeLessThan(otherAcquiredInRedisAt);
    other.unsubscribe();
    proxy.thaw();
  });
});
