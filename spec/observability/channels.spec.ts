/**
 * yadl's diagnostics channels on a real Redis: `yadl:acquire` (a
 * TracingChannel), `yadl:release` and `yadl:lost`, with their counts and
 * fields for acquisitions, waits, failures, releases and losses; no owner
 * token in any message; and nothing published, no context built, when
 * nobody subscribes.
 */
import diagnosticsChannel from 'node:diagnostics_channel';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { LockLostError, LockTimeoutError, RedisLock, RedisUnavailableError, lock$, type Lease } from '../../src/index';
import { acquireLeft, acquireStarted } from '../../src/observability/channels';
import { sleep, useFaultKit, within, type Holding } from '../faults/fault-kit';
import { getFreePort } from '../support/redis-server';
import { monitorTokens, recordChannels, TOKEN, type Recorder } from './observe';

const kit = useFaultKit();
const recorders: Recorder[] = [];
afterEach(() => {
  for (const r of recorders.splice(0)) r.stop();
});

function record(): Recorder {
  const r = recordChannels();
  recorders.push(r);
  return r;
}

async function held(holding: Holding, what = 'the lease'): Promise<Lease> {
  return within(holding.acquired, 5_000, what);
}

async function errorOf(holding: Holding): Promise<unknown> {
  const ending = await within(holding.ended, 5_000, 'an error');
  return ending.kind === 'error' ? ending.error : undefined;
}

/** The acquire events of one context, in order. */
function eventsOf(r: Recorder, name: string): string[] {
  return r.events.filter((e) => e.what.startsWith('acquire:') && e.fields.name === name).map((e) => e.what.slice('acquire:'.length));
}

describe('yadl:acquire, yadl:release and yadl:lost', () => {
  it('an acquisition that gets the lock at once: start and end, then asyncStart and asyncEnd with fence and waitMs, on one context; its release', async () => {
    const server = await kit.server();
    const r = record();
    const holding = kit.hold(lock$('first', { redis: server.url, prefix: 'obs' }));
    const lease = await held(holding);
    expect(eventsOf(r, 'first')).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
    const [start, end, asyncStart, asyncEnd] = r.of('acquire:start').concat(r.of('acquire:end'), r.of('acquire:asyncStart'), r.of('acquire:asyncEnd'));
    // One context object, filled in as it goes (what TracingChannel subscribers expect).
    expect(new Set([start!.message, end!.message, asyncStart!.message, asyncEnd!.message]).size).toBe(1);
    expect(start!.fields).toEqual({ name: 'first', prefix: 'obs', kind: 'lock', mode: 'write', fair: false });
    expect(asyncEnd!.fields).toMatchObject({ name: 'first', prefix: 'obs', kind: 'lock', mode: 'write', fair: false, fence: lease.fence });
    expect(asyncEnd!.fields.waitMs).toBeGreaterThanOrEqual(0);
    expect(asyncEnd!.fields.waitMs).toBeLessThan(5_000);
    expect(asyncEnd!.fields).not.toHaveProperty('error');
    expect(r.of('release')).toHaveLength(0);

    await sleep(200);
    holding.unsubscribe();
    expect(r.of('release')).toHaveLength(1);
    const release = r.of('release')[0]!.fields;
    expect(release).toMatchObject({ name: 'first', prefix: 'obs', kind: 'lock', mode: 'write', fence: lease.fence });
    expect(Object.keys(release).sort()).toEqual(['fence', 'heldMs', 'kind', 'mode', 'name', 'prefix']);
    expect(release.heldMs).toBeGreaterThanOrEqual(180);
    expect(release.heldMs).toBeLessThan(5_000);
    expect(r.of('acquire:error')).toHaveLength(0);
    expect(r.of('lost')).toHaveLength(0);
  });

  it('waiters: waitMs covers the wait, a reader is mode read, and each release is published once', async () => {
    const server = await kit.server();
    const r = record();
    const holder = kit.hold(lock$('shared', { redis: server.url }));
    await held(holder);
    const reader = kit.hold(lock$('shared', { redis: server.url, mode: 'read' }));
    const writer = kit.hold(lock$('shared', { redis: server.url, mode: 'write' }));
    await sleep(300);
    expect(r.of('acquire:asyncEnd')).toHaveLength(1);
    holder.unsubscribe();
    const readLease = await held(reader, 'the reader');
    reader.unsubscribe();
    const writeLease = await held(writer, 'the writer');
    writer.unsubscribe();

    expect(r.of('acquire:start')).toHaveLength(3);
    const ends = r.of('acquire:asyncEnd');
    expect(ends).toHaveLength(3);
    const readEnd = ends.find((e) => e.fields.mode === 'read')!.fields;
    expect(readEnd).toMatchObject({ name: 'shared', prefix: '', mode: 'read', fence: readLease.fence });
    expect(readEnd.waitMs).toBeGreaterThanOrEqual(280);
    const writeEnd = ends.find((e) => e.fields.fence === writeLease.fence)!.fields;
    expect(writeEnd.waitMs).toBeGreaterThanOrEqual(250); // subscribed a moment after the reader, behind the same holder
    const releases = r.of('release').map((e) => e.fields);
    expect(releases.map((m) => m.mode)).toEqual(['write', 'read', 'write']);
    expect(new Set(releases.map((m) => m.fence)).size).toBe(3);
    expect(r.of('acquire:error')).toHaveLength(0);
  });

  it('failures while waiting (a timeout, one attempt, an abort, an unreachable Redis): error, then asyncStart and asyncEnd, without fence', async () => {
    const server = await kit.server();
    const deadPort = await getFreePort();
    const r = record();
    const holder = kit.hold(lock$('busy', { redis: server.url }));
    await held(holder);
    const timedOut = await errorOf(kit.hold(lock$('busy', { redis: server.url, timeout: 200 })));
    const once = await errorOf(kit.hold(lock$('busy', { redis: server.url, timeout: 0 })));
    const controller = new AbortController();
    const aborted = kit.hold(lock$('busy', { redis: server.url, signal: controller.signal }));
    await sleep(100);
    const reason = new Error('enough');
    controller.abort(reason);
    expect(await errorOf(aborted)).toBe(reason);
    const unreachable = await errorOf(
      kit.hold(lock$('nowhere', { redis: `redis://127.0.0.1:${deadPort}/0`, redisTimeout: 300 })),
    );
    holder.unsubscribe();

    expect(timedOut).toBeInstanceOf(LockTimeoutError);
    expect(once).toBeInstanceOf(LockTimeoutError);
    expect(unreachable).toBeInstanceOf(RedisUnavailableError);
    const errors = r.of('acquire:error');
    expect(errors.map((e) => e.fields.error)).toEqual([timedOut, once, reason, unreachable]);
    for (const e of errors) {
      expect(e.fields).not.toHaveProperty('fence');
      expect(e.fields.waitMs).toBeGreaterThanOrEqual(0);
    }
    expect(errors[0]!.fields.waitMs).toBeGreaterThanOrEqual(190);
    // The holder's grant, then each failure's asyncEnd right after its error.
    expect(r.of('acquire:start')).toHaveLength(5);
    expect(r.of('acquire:asyncEnd')).toHaveLength(5);
    const order = r.events.filter((e) => e.what === 'acquire:error' || e.what === 'acquire:asyncEnd').map((e) => e.what);
    expect(order).toEqual(['acquire:asyncEnd', ...Array.from({ length: 4 }, () => ['acquire:error', 'acquire:asyncEnd']).flat()]);
    const ended = new Set(r.of('acquire:asyncEnd').map((e) => e.message));
    for (const e of errors) expect(ended.has(e.message)).toBe(true);
    expect(r.of('lost')).toHaveLength(0);
  });

  it('a subscriber that leaves while it waits ends the context with neither fence nor error', async () => {
    const server = await kit.server();
    const r = record();
    const holder = kit.hold(lock$('left', { redis: server.url }));
    await held(holder);
    const waiter = kit.hold(lock$('left', { redis: server.url }));
    await sleep(150);
    waiter.unsubscribe();
    holder.unsubscribe();
    expect(r.of('acquire:asyncEnd')).toHaveLength(2);
    const left = r.of('acquire:asyncEnd')[1]!.fields;
    expect(left).not.toHaveProperty('fence');
    expect(left).not.toHaveProperty('error');
    expect(left.waitMs).toBeGreaterThanOrEqual(140);
    expect(r.of('acquire:error')).toHaveLength(0);
    expect(r.of('release')).toHaveLength(1); // the holder's only
  });

  it("losses on yadl:lost (a force release by another instance: gone; a ttl running out: expired); an owner's own force release on yadl:release", async () => {
    const server = await kit.server();
    const r = record();
    // A lease a loaded machine renews in time, so that the renewal finds the hold gone (not 'unconfirmed').
    const victim = kit.hold(lock$('forced', { redis: server.url, prefix: 'obs', lease: 1_500 }));
    const victimLease = await held(victim);
    await sleep(50);
    await new RedisLock('forced', { redis: server.url, prefix: 'obs' }).release({ force: true });
    const gone = await errorOf(victim);
    expect(gone).toBeInstanceOf(LockLostError);
    expect((gone as LockLostError).reason).toBe('gone');

    const expiring = kit.hold(lock$('expiring', { redis: server.url, prefix: 'obs', ttl: 300, mode: 'read' }));
    const expiringLease = await held(expiring);
    expect(((await errorOf(expiring)) as LockLostError).reason).toBe('expired');

    const owner = new RedisLock('owned', { redis: server.url, prefix: 'obs' });
    await owner.acquire();
    const ownerFence = owner.fence;
    await owner.release({ force: true });

    const lost = r.of('lost').map((e) => e.fields);
    expect(lost).toHaveLength(2);
    expect(lost[0]).toMatchObject({ name: 'forced', prefix: 'obs', kind: 'lock', mode: 'write', fence: victimLease.fence, reason: 'gone' });
    expect(lost[0]!.heldMs).toBeGreaterThanOrEqual(40);
    expect(lost[1]).toMatchObject({ name: 'expiring', prefix: 'obs', kind: 'lock', mode: 'read', fence: expiringLease.fence, reason: 'expired' });
    // Declared over a little before the ttl (2% + 5 ms), never after it plus a busy machine's slack.
    expect(lost[1]!.heldMs).toBeGreaterThanOrEqual(250);
    expect(lost[1]!.heldMs).toBeLessThan(2_000);
    expect(Object.keys(lost[0]!).sort()).toEqual(['fence', 'heldMs', 'kind', 'mode', 'name', 'prefix', 'reason']);
    // A lost hold is not also released, nor a failed acquisition.
    expect(r.of('release').map((e) => e.fields.name)).toEqual(['owned']);
    expect(r.of('release')[0]!.fields.fence).toBe(ownerFence);
    expect(r.of('acquire:error')).toHaveLength(0);
  });

  it('no message carries an owner token: every token sent to Redis is looked for in every message, as inspect and JSON render it', async () => {
    const server = await kit.server();
    const seen = await monitorTokens(server.url);
    const r = record();
    const leases: Lease[] = [];
    try {
      leases.push(...(await scenario(server.url)));
      await sleep(100);
    } finally {
      await seen.stop();
    }
    for (const lease of leases) seen.tokens.add(lease.token);
    expect(seen.tokens.size).toBeGreaterThanOrEqual(4); // holder, waiter, the one that timed out, the ttl hold
    expect(r.events.length).toBeGreaterThanOrEqual(20);
    for (const e of r.events) {
      for (const token of seen.tokens) expect(e.rendered, `${e.what} carries a token`).not.toContain(token);
      expect(e.rendered.match(TOKEN) ?? [], e.what).toEqual([]);
    }
  });

  it("a kind of hold names itself in 'kind' (a lock when it does not), and 'fair' is what the settings say", () => {
    const r = record();
    const context = acquireStarted({ name: 's', prefix: 'p', mode: 'read', kind: { kind: 'semaphore' }, fair: true });
    acquireLeft(context);
    acquireLeft(context); // once only
    expect(r.of('acquire:start')[0]!.fields).toEqual({ name: 's', prefix: 'p', kind: 'semaphore', mode: 'read', fair: true });
    expect(eventsOf(r, 's')).toEqual(['start', 'end', 'asyncStart', 'asyncEnd']);
  });

  it('with nobody subscribed, nothing is published and no context is built', async () => {
    const server = await kit.server();
    expect(acquireStarted({ name: 'x', prefix: '', mode: 'write' })).toBeUndefined();
    const published: string[] = [];
    // Channels without subscribers are plain Channels (Node swaps the prototype once one subscribes).
    const spy = vi.spyOn(diagnosticsChannel.Channel.prototype, 'publish').mockImplementation(function (this: diagnosticsChannel.Channel) {
      const name = String(this.name);
      if (name.includes('yadl')) published.push(name);
    });
    try {
      await scenario(server.url);
    } finally {
      spy.mockRestore();
    }
    expect(published).toEqual([]);

    // The same scenario with a subscriber does publish (the spy above would have seen it).
    const r = record();
    await scenario(server.url);
    expect(r.of('acquire:start')).toHaveLength(4);
    expect(r.of('acquire:error')).toHaveLength(1);
    expect(r.of('release')).toHaveLength(1);
    expect(r.of('lost').map((e) => e.fields.reason)).toEqual(['gone', 'expired']);
  });
});

/** Grants, a wait, a timeout, a release, a force release and an expiry; returns the leases it saw. */
async function scenario(url: string): Promise<Lease[]> {
  const leases: Lease[] = [];
  const holder = kit.hold(lock$('scene', { redis: url, lease: 300 }));
  leases.push(await held(holder));
  const waiter = kit.hold(lock$('scene', { redis: url, lease: 300 }));
  await errorOf(kit.hold(lock$('scene', { redis: url, timeout: 50 })));
  await sleep(150); // a renewal
  holder.unsubscribe();
  leases.push(await held(waiter, 'the waiter'));
  await new RedisLock('scene', { redis: url }).release({ force: true });
  await errorOf(waiter); // gone, found by a check
  const expiring = kit.hold(lock$('scene-ttl', { redis: url, ttl: 200 }));
  leases.push(await held(expiring));
  await errorOf(expiring);
  return leases;
}
