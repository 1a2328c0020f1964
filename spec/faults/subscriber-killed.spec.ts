/**
 * The subscriber connection (keyspace notifications) is killed with
 * `CLIENT KILL TYPE pubsub` while waiters wait. When the holder then
 * releases, a waiter acquires promptly: well under a second, while the
 * holder's lease (its deadline, the waiters' fallback) is 30 s.
 */
import { describe, expect, it } from 'vitest';
import { lock$ } from '../../src/index';
import { channelOf, eventually, sleep, subscribers, useFaultKit, within } from './fault-kit';

const kit = useFaultKit();
const LEASE = 30_000;

async function killSubscribersWhileWaiting(releaseWhen: 'at once' | 'after the resubscribe'): Promise<void> {
  const server = await kit.server();
  const admin = kit.admin(server.url);
  const holderClient = kit.client(server.url);
  const name = 'sub-killed';
  const channel = channelOf('s', name);
  const holder = kit.hold(lock$(name, { redis: holderClient, prefix: 's', lease: LEASE }));
  await within(holder.acquired, 5_000, 'the holder');
  // Waiters from two connections of their own (a URL and a client), so two subscriber connections.
  const waiters = [
    kit.hold(lock$(name, { redis: server.url, prefix: 's' })),
    kit.hold(lock$(name, { redis: server.url, prefix: 's' })),
    kit.hold(lock$(name, { redis: kit.client(server.url), prefix: 's' })),
  ];
  await eventually(async () => (await subscribers(admin, channel)) === 2, 5_000, 'both subscriber connections subscribed');

  const killed = Number(await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub'));
  expect(killed).toBe(2);
  expect(await subscribers(admin, channel)).toBe(0);
  if (releaseWhen === 'after the resubscribe') {
    await eventually(async () => (await subscribers(admin, channel)) === 2, 5_000, 'the subscribers back');
  }

  const releasedAt = performance.now();
  holder.unsubscribe();
  await within(Promise.race(waiters.map((w) => w.acquired)), 5_000, 'a waiter acquiring');
  const after = performance.now() - releasedAt;
  console.log(`[pubsub killed, release ${releaseWhen}] a waiter acquired ${after.toFixed(0)} ms after the release`);
  expect(after).toBeLessThan(1_000);

  // The others are handed the lock in turn, each promptly too.
  const done = new Set<(typeof waiters)[number]>();
  for (let turn = 1; turn < waiters.length; turn++) {
    const holding = waiters.filter((w) => w.leases.length > 0 && !done.has(w));
    expect(holding).toHaveLength(1);
    const handedAt = performance.now();
    holding[0]!.unsubscribe();
    done.add(holding[0]!);
    await within(
      Promise.race(waiters.filter((w) => w.leases.length === 0).map((w) => w.acquired)),
      1_000,
      `turn ${turn + 1}`,
    );
    expect(performance.now() - handedAt).toBeLessThan(1_000);
  }
  const fences = waiters.map((w) => w.leases[0]!.lease.fence);
  expect(new Set(fences).size).toBe(waiters.length);
  for (const w of waiters) w.unsubscribe();
  await sleep(0);
}

describe('the subscriber connection is killed while waiters wait', () => {
  it('a release right after the kill (while resubscribing) still wakes a waiter within 1 s', async () => {
    await killSubscribersWhileWaiting('at once');
  });

  it('a release after the resubscribe wakes a waiter within 1 s', async () => {
    await killSubscribersWhileWaiting('after the resubscribe');
  });

  it('a waiter killed again and again keeps its place and acquires promptly', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const holder = kit.hold(lock$('flapping', { redis: kit.client(server.url), prefix: 's', lease: LEASE }));
    await within(holder.acquired, 5_000, 'the holder');
    const waiter = kit.hold(lock$('flapping', { redis: server.url, prefix: 's' }));
    for (let i = 0; i < 5; i++) {
      await eventually(async () => (await subscribers(admin, channelOf('s', 'flapping'))) === 1, 5_000, 'subscribed');
      await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      await sleep(20 * i);
    }
    const releasedAt = performance.now();
    holder.unsubscribe();
    await within(waiter.acquired, 5_000, 'the waiter');
    const after = performance.now() - releasedAt;
    console.log(`[pubsub killed 5 times] the waiter acquired ${after.toFixed(0)} ms after the release`);
    expect(after).toBeLessThan(1_000);
  });
});
