/**
 * A process holding a ttl-less lock (lease 1000 ms) is killed with SIGKILL:
 * its renewals stop, and a waiter in another process (and one in this
 * process) acquires within one lease plus slack. Times are compared on a clock
 * all processes share (performance.timeOrigin + performance.now()).
 */
import { describe, expect, it } from 'vitest';
import { RedisLock } from '../../src/index';
import { sharedNow, sleep, useFaultKit, within } from './fault-kit';

const kit = useFaultKit();
const LEASE = 1_000;
const SLACK = 1_500;

describe('a holder process killed with SIGKILL', () => {
  it('a waiter in another process acquires within one lease; a waiter here gets it next', async () => {
    const server = await kit.server();
    const env = { REDIS_URL: server.url, PREFIX: 'h', NAME: 'victim' };
    const holder = kit.worker('holder.ts', { ...env, LEASE: String(LEASE) });
    const held = await holder.message((m) => m.acquired === true || m.error !== undefined);
    expect(held.acquired).toBe(true);
    const other = kit.worker('waiter.ts', { ...env, HOLD_MS: '300' });
    await other.message((m) => m.waiting === true || m.error !== undefined);
    const here = new RedisLock('victim', { redis: server.url, prefix: 'h' });
    const hereAcquired = here.acquire({ timeout: 10_000 }).then((ok) => ({ ok, at: sharedNow() }));
    // Outlive a lease first: the holder's renewals keep its hold.
    await sleep(LEASE + 300);
    expect(other.messages.some((m) => m.acquired === true)).toBe(false);
    expect(here.fence).toBeUndefined();

    const killedAt = sharedNow();
    holder.kill('SIGKILL');
    expect(await holder.exited).toEqual({ code: null, signal: 'SIGKILL' });
    interface Acquired {
      who: 'other process' | 'this process';
      acquired: unknown;
      at: number;
      fence: number;
    }
    const first: Acquired = await Promise.race([
      other
        .message((m) => m.acquired === true || m.error !== undefined, 10_000)
        .then((m) => ({ who: 'other process' as const, acquired: m.acquired, at: Number(m.at), fence: Number(m.fence) })),
      hereAcquired.then((r) => ({ who: 'this process' as const, acquired: r.ok, at: r.at, fence: here.fence ?? 0 })),
    ]);
    const freedAfter = first.at - killedAt;
    console.log(`[holder SIGKILL] lease ${LEASE} ms: ${first.who} acquired ${freedAfter.toFixed(0)} ms after the kill`);
    expect(first.acquired).toBe(true);
    expect(freedAfter).toBeLessThan(LEASE + SLACK);
    expect(first.fence).toBeGreaterThan(held.fence as number);

    // The other waiter gets it in turn.
    if (first.who === 'this process') await here.release();
    const second = await within(
      first.who === 'this process' ? other.message((m) => m.acquired === true, 5_000) : hereAcquired,
      5_000,
      'the second waiter',
    );
    expect((second as { at: number }).at).toBeGreaterThan(first.at);
    if (first.who !== 'this process') {
      expect((await hereAcquired).ok).toBe(true);
      await here.release();
    }
    expect(await within(other.exited, 5_000, 'the other process exiting by itself')).toEqual({ code: 0, signal: null });
  });

  it('a killed reader frees the name for a writer waiting in another process within one lease', async () => {
    const server = await kit.server();
    const env = { REDIS_URL: server.url, PREFIX: 'h', NAME: 'shared' };
    const readers = [1, 2].map(() => kit.worker('holder.ts', { ...env, LEASE: String(LEASE), LOCK_MODE: 'read' }));
    for (const r of readers) expect((await r.message((m) => m.acquired === true || m.error !== undefined)).acquired).toBe(true);
    const writer = kit.worker('waiter.ts', env);
    await writer.message((m) => m.waiting === true || m.error !== undefined);
    readers[0]!.kill('SIGKILL');
    await sleep(LEASE + 300);
    // One reader is still alive and renewing: the writer must still wait.
    expect(writer.messages.some((m) => m.acquired === true)).toBe(false);
    const killedAt = sharedNow();
    readers[1]!.kill('SIGKILL');
    const acquired = await writer.message((m) => m.acquired === true || m.error !== undefined, 10_000);
    const freedAfter = (acquired.at as number) - killedAt;
    console.log(`[reader SIGKILL] lease ${LEASE} ms: the writer acquired ${freedAfter.toFixed(0)} ms after the last reader was killed`);
    expect(acquired.acquired).toBe(true);
    expect(freedAfter).toBeLessThan(LEASE + SLACK);
    expect(await within(writer.exited, 5_000, 'the writer exiting by itself')).toEqual({ code: 0, signal: null });
  });
});
