import type { Redis } from 'ioredis';
import { diagnostics } from '../diagnostics';
import { debugSubscriber } from '../observability/debug';
import { serverOf } from './keyspace-events';
import { setSocketRef } from './socket-ref';

/** What a channel's listener is told. */
export interface ChannelListener {
  /** A message on the channel: a keyspace event name such as `del` or `expired`. */
  message(event: string): void;
  /** The connection came back and the channel is subscribed again: events may have been missed. */
  resubscribed(): void;
  /** The connection closed: events are missed until it is back. */
  connectionLost(): void;
}

/** What waiters need of a server's (or a cluster's) notifications. */
export interface NotificationSource {
  listen(name: string, listener: ChannelListener): Listening;
  close(): void;
}

/** A notification source that can turn keyspace events on for its server(s). */
export interface KeyspaceEventsSource extends NotificationSource {
  /**
   * A waiter about to listen wants expiry notifications turned on (its
   * keyspaceEvents is 'configure'): from now on, and at every reconnect,
   * until nobody listens any more. One such waiter is enough for all.
   */
  requestKeyspaceEvents(): void;
}

export interface Listening {
  /** Resolves true once Redis confirmed the subscription, false if it could not be made. */
  readonly ready: Promise<boolean>;
  close(): void;
}

interface Channel {
  readonly name: string;
  readonly listeners: Set<ChannelListener>;
  ready: Promise<boolean>;
  linger: NodeJS.Timeout | undefined;
  /** Redis refused its last SUBSCRIBE: retried while it has listeners. */
  refused: boolean;
}

/** How long a channel nobody listens to stays subscribed, so that lock ping-pong does not churn SUBSCRIBE. */
export const CHANNEL_LINGER_MS = 500;

/** A refused SUBSCRIBE is retried after this long, doubling up to SUBSCRIBE_RETRY_MAX_MS. */
export const SUBSCRIBE_RETRY_MIN_MS = 50;
export const SUBSCRIBE_RETRY_MAX_MS = 2_000;

const ignore = (): void => undefined;

/**
 * The one subscriber connection of a Redis server in this process. It
 * multiplexes every lock's channel with plain SUBSCRIBE (never PSUBSCRIBE),
 * counting listeners per channel, and resubscribes by itself after a
 * reconnect so that it can tell each listener when that is done.
 */
export class Subscriber implements KeyspaceEventsSource {
  private client: Redis | undefined;
  private readonly channels = new Map<string, Channel>();
  private connectedBefore = false;
  /** Channels that have listeners (the others linger); at 0 the socket stops holding the process open. */
  private listened = 0;
  /** Settles once `prepare` ran on the current connection; subscriptions wait for it. */
  private prepared: Promise<unknown> = Promise.resolve();
  /**
   * Settles once the last SUBSCRIBE or UNSUBSCRIBE was handed to the client.
   * The next one waits for it, so that none overtakes another: an UNSUBSCRIBE
   * sent while a SUBSCRIBE still waited for `prepared` used to reach Redis
   * first and leave the channel subscribed with nobody listening.
   */
  private sent: Promise<unknown> = Promise.resolve();
  private retryTimer: NodeJS.Timeout | undefined;
  private retryDelay = SUBSCRIBE_RETRY_MIN_MS;
  /** A listener asked for keyspace events; forgotten when the connection is dropped (nobody listens). */
  private keyspaceEvents = false;

  /**
   * `prepare` runs on the subscriber connection itself, before it subscribes,
   * at every (re)connect once a listener asked for keyspace events: the
   * place to turn them on for exactly the server that will send them (a new
   * primary after a failover too).
   */
  constructor(
    private readonly connect: () => Redis,
    private readonly prepare: (client: Redis) => Promise<unknown>,
    private readonly onConnectionLost: () => void = () => undefined,
    /** A connection to the same server outside subscriber mode (where CONFIG is refused), for a late request. */
    private readonly commandClient: () => Redis | undefined = () => undefined,
    /**
     * Shard channels (SSUBSCRIBE, 'smessage': Redis >= 7, a Cluster's wake-ups)
     * instead of plain ones. They get a connection of their own: ioredis counts
     * a connection out of subscriber mode when either kind's count drops to 0.
     */
    private readonly sharded = false,
  ) {}

  listen(name: string, listener: ChannelListener): Listening {
    const client = this.ensureClient();
    let channel = this.channels.get(name);
    if (channel === undefined) {
      channel = { name, listeners: new Set(), ready: Promise.resolve(false), linger: undefined, refused: false };
      this.channels.set(name, channel);
      diagnostics.channels += 1;
      this.subscribe(client, [channel], false);
    } else {
      if (channel.linger !== undefined) {
        clearTimeout(channel.linger);
        channel.linger = undefined;
      }
      if (channel.refused) this.scheduleRetry();
    }
    if (channel.listeners.size === 0) this.listened += 1;
    channel.listeners.add(listener);
    const entry = channel;
    let closed = false;
    return {
      ready: entry.ready,
      close: () => {
        if (closed) return;
        closed = true;
        entry.listeners.delete(listener);
        // A channel dropped by close() has nothing left to unsubscribe.
        if (entry.listeners.size === 0 && this.channels.get(name) === entry) this.scheduleUnsubscribe(name, entry);
      },
    };
  }

  requestKeyspaceEvents(): void {
    if (this.keyspaceEvents) return;
    this.keyspaceEvents = true;
    if (this.client === undefined) return;
    // Connected without them, in subscriber mode: turn them on through another connection. Nothing
    // waits for it: channels already subscribed did without, and the deadline retry covers the gap.
    const other = this.commandClient();
    if (other !== undefined) void this.prepare(other).catch(() => undefined);
  }

  /** Disconnects now, dropping every channel (used when the connection is closed). */
  close(): void {
    for (const channel of this.channels.values()) clearTimeout(channel.linger);
    this.stopRetrying();
    diagnostics.channels -= this.channels.size;
    this.channels.clear();
    this.listened = 0;
    this.dropClient();
  }

  private scheduleUnsubscribe(name: string, channel: Channel): void {
    this.listened -= 1;
    if (this.listened === 0 && this.client !== undefined) setSocketRef(this.client, false);
    channel.linger = setTimeout(() => {
      if (this.channels.get(name) !== channel || channel.listeners.size > 0) return;
      this.channels.delete(name);
      diagnostics.channels -= 1;
      const client = this.client;
      if (client === undefined) return;
      if (this.channels.size === 0) {
        this.dropClient();
      } else {
        this.inOrder(client, () => (this.sharded ? client.sunsubscribe(name) : client.unsubscribe(name))).catch(ignore);
      }
    }, CHANNEL_LINGER_MS);
    channel.linger.unref();
  }

  private ensureClient(): Redis {
    if (this.client !== undefined) {
      setSocketRef(this.client, true);
      return this.client;
    }
    const client = this.connect();
    diagnostics.ownedClients += 1;
    this.client = client;
    this.connectedBefore = false;
    this.prepared = this.prepareIfAsked(client);
    client.on('error', () => {
      // Reconnects are ioredis' job; listeners learn through resubscribed().
    });
    client.on('close', () => {
      if (this.client !== client) return;
      debugSubscriber(serverOf(client), 'connection lost');
      this.onConnectionLost();
      for (const channel of this.channels.values()) {
        for (const listener of channel.listeners) listener.connectionLost();
      }
    });
    client.on(this.sharded ? 'smessage' : 'message', (channel: string, message: string) => {
      for (const listener of this.channels.get(channel)?.listeners ?? []) listener.message(message);
    });
    // ioredis leaves an SSUBSCRIBE answered MOVED unsettled and says 'moved': the slot is elsewhere now.
    if (this.sharded) client.on('moved', () => this.onConnectionLost());
    client.on('ready', () => {
      if (this.client !== client) return;
      if (!this.connectedBefore) {
        this.connectedBefore = true;
        return;
      }
      debugSubscriber(serverOf(client), `reconnected, resubscribing ${this.channels.size} channels`);
      this.resubscribeAll(client);
    });
    return client;
  }

  private dropClient(): void {
    this.stopRetrying();
    if (this.client === undefined) return;
    this.client.disconnect();
    this.client = undefined;
    this.keyspaceEvents = false;
    diagnostics.ownedClients -= 1;
  }

  /**
   * Settles once the connection is ready (or failed) and, when asked for,
   * keyspace events are on. (Un)subscriptions wait for it: ioredis does not
   * keep an UNSUBSCRIBE behind a SUBSCRIBE queued while it connects.
   */
  private prepareIfAsked(client: Redis): Promise<unknown> {
    return this.keyspaceEvents ? this.prepare(client).catch(ignore) : connected(client);
  }

  private resubscribeAll(client: Redis): void {
    this.prepared = this.prepareIfAsked(client);
    const channels = [...this.channels.values()];
    if (channels.length > 0) this.subscribe(client, channels, true);
  }

  /**
   * Subscribes the channels once every SUBSCRIBE or UNSUBSCRIBE asked for
   * before has been sent. `tell`: their listeners hear `resubscribed()` when
   * it succeeds (events may have been missed). A refused subscription is
   * retried while the channel has listeners.
   */
  private subscribe(client: Redis, channels: Channel[], tell: boolean): void {
    const names = channels.map((c) => c.name);
    // One SSUBSCRIBE per channel: on a Cluster, one command's shard channels must share a slot.
    const send = (): Promise<unknown> => (this.sharded ? Promise.all(names.map((name) => client.ssubscribe(name))) : client.subscribe(...names));
    const ready = this.inOrder(client, send).then(
      () => true,
      // A server without sharded pub/sub (Redis < 7) publishes its wake-ups on the plain channel instead.
      (error: unknown) => this.sharded && error instanceof Error && /unknown command/i.test(error.message),
    );
    for (const channel of channels) channel.ready = ready;
    void ready.then((ok) => {
      if (this.client !== client) return;
      const live = channels.filter((c) => this.channels.get(c.name) === c);
      for (const channel of live) channel.refused = !ok;
      if (!ok) {
        this.scheduleRetry();
        return;
      }
      if (!tell) return;
      // A retry (or a resubscription) covers every channel refused until then.
      this.retryDelay = SUBSCRIBE_RETRY_MIN_MS;
      for (const channel of live) {
        for (const listener of channel.listeners) listener.resubscribed();
      }
    });
  }

  /** Sends a (un)subscription after those asked for before it, and after `prepare`. */
  private inOrder<T>(client: Redis, send: () => Promise<T>): Promise<T> {
    let reply: Promise<T> | undefined;
    const written = this.sent
      .then(() => this.prepared)
      .then(() => {
        if (this.client === client) reply = send();
      });
    this.sent = written.catch(ignore);
    return written.then(() => reply ?? Promise.reject(new Error('the subscriber connection was closed')));
  }

  /**
   * A refused SUBSCRIBE (an ACL that did not allow the channel yet, a
   * connection that gave up retrying) is not retried by ioredis, and the
   * 'ready' after a reconnect resubscribes only once connected before.
   */
  private scheduleRetry(): void {
    if (this.retryTimer !== undefined || this.client === undefined) return;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = undefined;
      const client = this.client;
      const channels = [...this.channels.values()].filter((c) => c.refused && c.listeners.size > 0);
      if (client === undefined || channels.length === 0) {
        this.retryDelay = SUBSCRIBE_RETRY_MIN_MS;
        return;
      }
      this.retryDelay = Math.min(this.retryDelay * 2, SUBSCRIBE_RETRY_MAX_MS);
      this.subscribe(client, channels, true);
    }, this.retryDelay);
    this.retryTimer.unref();
  }

  private stopRetrying(): void {
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    this.retryDelay = SUBSCRIBE_RETRY_MIN_MS;
  }
}

/** Settles once `client` is ready, or has failed to connect (commands then fail on their own). */
function connected(client: Redis): Promise<void> {
  if (client.status === 'ready') return Promise.resolve();
  return new Promise((resolve) => {
    const done = (): void => {
      client.off('ready', done);
      client.off('error', done);
      client.off('end', done);
      resolve();
    };
    client.on('ready', done);
    client.on('error', done);
    client.on('end', done);
  });
}
