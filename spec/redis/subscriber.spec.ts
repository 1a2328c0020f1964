/**
 * The subscriber connection of one server, on real servers: its SUBSCRIBE
 * and UNSUBSCRIBE reach Redis in the order asked, and a SUBSCRIBE that Redis
 * refused is retried while anyone listens.
 */
import { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { lock$ } from '../../src/index';
import { enableKeyspaceEvents } from '../../src/redis/keyspace-events';
import { CHANNEL_LINGER_MS, Subscriber, type ChannelListener } from '../../src/redis/subscriber';
import { channelOf, eventually, sleep, subscribers, useFaultKit, waitFor, within } from '../faults/fault-kit';

const kit = useFaultKit();

interface Heard {
  readonly messages: string[];
  resubscribed: number;
  readonly listener: ChannelListener;
}

function heard(): Heard {
  const h: Heard = {
    messages: [],
    resubscribed: 0,
    listener: {
      message: (event) => h.messages.push(event),
      resubscribed: () => (h.resubscribed += 1),
      connectionLost: () => undefined,
    },
  };
  return h;
}

async function channels(admin: Redis): Promise<string[]> {
  return ((await admin.call('PUBSUB', 'CHANNELS')) as string[]).sort();
}

describe('Subscriber', () => {
  it('an UNSUBSCRIBE never overtakes a SUBSCRIBE still waiting for the connection to be prepared', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const proxy = await kit.proxy(server);
    // Nothing passes until thawed: the connection's ready check and CONFIG wait, so SUBSCRIBE waits too.
    proxy.freeze();
    const subscriber = new Subscriber(
      () => new Redis(proxy.url, { autoResubscribe: false, disconnectTimeout: 100 }),
      (client) => enableKeyspaceEvents(client),
    );
    try {
      const kept = subscriber.listen('kept', heard().listener);
      const brief = subscriber.listen('brief', heard().listener);
      brief.close();
      await sleep(CHANNEL_LINGER_MS + 300); // the linger of 'brief' ran out: its UNSUBSCRIBE was asked for
      proxy.thaw();
      expect(await within(kept.ready, 5_000, 'kept subscribed')).toBe(true);
      await sleep(200);
      expect(await channels(admin)).toEqual(['kept']);
    } finally {
      subscriber.close();
    }
  });

  it('a refused SUBSCRIBE is retried while someone listens; listeners hear resubscribed() once it succeeds', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    await admin.call('ACL', 'SETUSER', 'waiter', 'on', '>pw', '~*', 'resetchannels', '&other', '+@all');
    const subscriber = new Subscriber(
      () => new Redis({ port: server.port, username: 'waiter', password: 'pw', autoResubscribe: false, disconnectTimeout: 100 }),
      (client) => enableKeyspaceEvents(client),
    );
    try {
      const h = heard();
      const listening = subscriber.listen('later', h.listener);
      expect(await within(listening.ready, 5_000, 'the first SUBSCRIBE')).toBe(false);
      await sleep(300); // retries keep being refused meanwhile
      expect(h.resubscribed).toBe(0);
      await admin.call('ACL', 'SETUSER', 'waiter', '&later');
      await waitFor(() => h.resubscribed > 0, 5_000, 'resubscribed() after the ACL allowed the channel');
      expect(h.resubscribed).toBe(1);
      expect(await subscribers(admin, 'later')).toBe(1);
      await admin.publish('later', 'hello');
      await waitFor(() => h.messages.length > 0, 2_000, 'the message');
      expect(h.messages).toEqual(['hello']);
    } finally {
      subscriber.close();
    }
  });

  it('after its connection is killed, every channel is subscribed again and its listeners told', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const subscriber = new Subscriber(
      () => new Redis(server.url, { autoResubscribe: false, disconnectTimeout: 100 }),
      (client) => enableKeyspaceEvents(client),
    );
    try {
      const [a, b] = [heard(), heard()];
      const listenings = [subscriber.listen('a', a.listener), subscriber.listen('b', b.listener)];
      expect(await Promise.all(listenings.map((l) => l.ready))).toEqual([true, true]);
      await admin.client('KILL', 'TYPE', 'pubsub');
      await waitFor(() => a.resubscribed === 1 && b.resubscribed === 1, 5_000, 'both told');
      expect(await channels(admin)).toEqual(['a', 'b']);
      await admin.publish('b', 'expired');
      await waitFor(() => b.messages.length > 0, 2_000, 'the message after the reconnect');
      expect(b.messages).toEqual(['expired']);
    } finally {
      subscriber.close();
    }
  });

  it('a retry stops when nobody listens any more', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    await admin.call('ACL', 'SETUSER', 'waiter', 'on', '>pw', '~*', 'resetchannels', '&other', '+@all');
    const subscriber = new Subscriber(
      () => new Redis({ port: server.port, username: 'waiter', password: 'pw', autoResubscribe: false, disconnectTimeout: 100 }),
      (client) => enableKeyspaceEvents(client),
    );
    try {
      const kept = subscriber.listen('other', heard().listener);
      const h = heard();
      const listening = subscriber.listen('later', h.listener);
      expect(await listening.ready).toBe(false);
      expect(await kept.ready).toBe(true);
      listening.close();
      await sleep(CHANNEL_LINGER_MS + 300);
      await admin.call('ACL', 'SETUSER', 'waiter', '&later');
      await sleep(2_500);
      expect(h.resubscribed).toBe(0);
      expect(await subscribers(admin, 'later')).toBe(0);
    } finally {
      subscriber.close();
    }
  });
});

describe('a waiter whose first SUBSCRIBE was refused', () => {
  it('is handed the lock at the release once its subscription went through, not at the holder deadline', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    await admin.call('ACL', 'SETUSER', 'waiter', 'on', '>pw', '~*', 'resetchannels', '+@all');
    const holder = kit.hold(lock$('x', { redis: kit.client(server.url), prefix: 'p' }));
    await within(holder.acquired, 5_000, 'the holder');
    const waiterUrl = `redis://waiter:pw@127.0.0.1:${server.port}/0`;
    const waiter = kit.hold(lock$('x', { redis: waiterUrl, prefix: 'p' }));
    await sleep(300); // blocked, and its SUBSCRIBE refused
    expect(await subscribers(admin, channelOf('p', 'x'))).toBe(0);
    await admin.call('ACL', 'SETUSER', 'waiter', `&${channelOf('p', 'x')}`);
    await eventually(async () => (await subscribers(admin, channelOf('p', 'x'))) === 1, 5_000, 'the retried SUBSCRIBE');
    const released = performance.now();
    holder.unsubscribe();
    await within(waiter.acquired, 3_000, 'the waiter, at the release (the holder deadline is 30 s away)');
    console.log(`[subscriber] handoff to a waiter whose first SUBSCRIBE was refused: ${(waiter.leases[0]!.at - released).toFixed(1)} ms`);
  });
});
