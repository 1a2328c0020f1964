import { Redis } from 'ioredis';
import type { RedisSource } from '../core/options';
import { enableKeyspaceEvents } from './keyspace-events';
import type { LockKeys } from './keys';
import { LockScripts, type WakeChannel } from './lock-scripts';
import { setSocketRef } from './socket-ref';
import { Subscriber } from './subscriber';
import { diagnostics } from '../diagnostics';

/** How long an idle connection that yadl opened from a URL stays open for the next lock. */
export const IDLE_CLOSE_MS = 1_000;

/**
 * A Redis server as this process uses it: one data client (the caller's, or
 * one yadl opened from a URL) and, while anyone waits, one subscriber
 * connection. Every lock with the same `redis` option shares it.
 */
export class Connection {
  readonly scripts: LockScripts;
  readonly db: number;
  /** ioredis' `keyPrefix` of the client, which keyspace channels must include. */
  readonly keyPrefix: string;
  private subscriberInstance: Subscriber | undefined;
  private users = 0;
  private notificationsOn = false;
  private checkingNotifications: Promise<void> | undefined;
  private idleTimer: NodeJS.Timeout | undefined;

  /** The last connection error ioredis reported, for error messages. */
  lastError: Error | undefined;

  constructor(
    readonly client: Redis,
    private readonly owned: boolean,
    private readonly forget: () => void,
  ) {
    this.scripts = new LockScripts(client);
    if (owned) {
      client.on('error', (error: Error) => {
        // ioredis reconnects by itself; commands that fail meanwhile say why.
        this.lastError = error;
      });
    }
    this.db = client.options.db ?? 0;
    this.keyPrefix = client.options.keyPrefix ?? '';
  }

  /** Where this connection goes, without credentials, for messages. */
  get server(): string {
    const { host, port, path } = this.client.options;
    return path ? `unix:${path}` : `${host ?? '127.0.0.1'}:${port ?? 6379}/${this.db}`;
  }

  /** Number of acquisitions, holds and releases in progress. */
  get userCount(): number {
    return this.users;
  }

  get channelCount(): number {
    return this.subscriberInstance?.channelCount ?? 0;
  }

  retain(): void {
    this.users += 1;
    diagnostics.connectionUsers += 1;
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      if (this.owned) setSocketRef(this.client, true);
    }
    if (!this.notificationsOn && this.checkingNotifications === undefined) this.checkNotifications();
  }

  release(): void {
    this.users -= 1;
    diagnostics.connectionUsers -= 1;
    if (this.users > 0 || !this.owned) return;
    setSocketRef(this.client, false);
    this.idleTimer = setTimeout(() => this.close(), IDLE_CLOSE_MS);
    this.idleTimer.unref();
  }

  /**
   * Where release scripts wake waiters: they publish on the lock's keyspace
   * channel what keyspace notifications do not report (all of it, when
   * notifications are not known to be on).
   */
  wakeChannel(keys: LockKeys): WakeChannel {
    return { channel: keys.channel, reportsDel: this.notificationsOn };
  }

  get subscriber(): Subscriber {
    this.subscriberInstance ??= new Subscriber(
      () => this.client.duplicate({ autoResubscribe: false, lazyConnect: false }),
      () => this.checkNotifications(),
    );
    return this.subscriberInstance;
  }

  private checkNotifications(): void {
    const check = enableKeyspaceEvents(this.client).then((on) => {
      this.notificationsOn = on;
      if (this.checkingNotifications === check) this.checkingNotifications = undefined;
    });
    this.checkingNotifications = check;
  }

  private close(): void {
    if (this.users > 0) return;
    this.idleTimer = undefined;
    this.forget();
    diagnostics.ownedClients -= 1;
    this.subscriberInstance?.close();
    this.subscriberInstance = undefined;
    this.client.disconnect();
  }
}

const byUrl = new Map<string, Connection>();
const byClient = new WeakMap<Redis, Connection>();

/** The shared connection for `source`, retained once for the caller. */
export function openConnection(source: RedisSource): Connection {
  const connection = typeof source === 'string' ? connectionForUrl(source) : connectionForClient(source);
  connection.retain();
  return connection;
}

function connectionForUrl(url: string): Connection {
  let connection = byUrl.get(url);
  if (connection === undefined) {
    const client = new Redis(url);
    diagnostics.ownedClients += 1;
    const created: Connection = new Connection(client, true, () => {
      if (byUrl.get(url) === created) byUrl.delete(url);
    });
    byUrl.set(url, created);
    connection = created;
  }
  return connection;
}

function connectionForClient(client: Redis): Connection {
  let connection = byClient.get(client);
  if (connection === undefined) {
    connection = new Connection(client, false, () => undefined);
    byClient.set(client, connection);
  }
  return connection;
}

/** For tests and diagnostics: the connections yadl opened from URLs and are still open. */
export function openUrlConnections(): readonly Connection[] {
  return [...byUrl.values()];
}
