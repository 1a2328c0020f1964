import { Cluster, Redis, type ClusterNode, type ClusterOptions, type RedisOptions } from 'ioredis';
import { diagnostics } from '../diagnostics';
import { ClusterSubscriber } from './cluster-subscriber';
import { CommandWatch } from './command-watch';
import { enableKeyspaceEvents, type KeyspaceEvents } from './keyspace-events';
import { redact } from './redact';
import { Replication, type ReplicationRequest } from './replication';
import { setSocketRef } from './socket-ref';
import { Subscriber, type KeyspaceEventsSource, type NotificationSource } from './subscriber';

/** How long an idle connection that yadl opened itself stays open for the next lock. */
export const IDLE_CLOSE_MS = 1_000;

/**
 * Where locks live: an ioredis client or Cluster (yadl never closes them),
 * a `redis://` / `rediss://` URL, ioredis options (for Sentinel: `sentinels`
 * and `name`), or the seed nodes of a Redis Cluster.
 */
export type RedisSource = Redis | Cluster | string | RedisOptions | ClusterSource;

/** The seed nodes of a Redis Cluster, and ioredis Cluster options for the client yadl makes. */
export interface ClusterSource {
  cluster: ClusterNode[];
  options?: ClusterOptions;
}

type DataClient = Redis | Cluster;

/**
 * A Redis deployment as this process uses it: one data client (the caller's,
 * or one yadl opened) and, while anyone waits, one subscriber connection per
 * server. Every lock with the same `redis` option shares it.
 */
export class Connection {
  readonly db: number;
  /** ioredis' `keyPrefix` of the client, which keyspace channels must include. */
  readonly keyPrefix: string;
  /** The last connection error ioredis reported, for error messages. */
  lastError: Error | undefined;
  /** Deadlines (redisTimeout) of the commands sent through this connection. */
  readonly deadlines = new CommandWatch();
  private notifications: KeyspaceEventsSource | undefined;
  private replication: Replication | undefined;
  private users = 0;
  private idleTimer: NodeJS.Timeout | undefined;

  constructor(
    readonly client: DataClient,
    private readonly owned: boolean,
    private readonly forget: () => void,
  ) {
    const options = client.options as { db?: number; keyPrefix?: string };
    this.db = isCluster(client) ? 0 : (options.db ?? 0);
    this.keyPrefix = options.keyPrefix ?? '';
    if (owned) {
      client.on('error', (error: Error) => {
        // ioredis reconnects by itself; commands that fail meanwhile say why.
        this.lastError = redact(error);
      });
    }
  }

  /** Where this connection goes, without credentials, for messages. */
  get server(): string {
    if (isCluster(this.client)) return 'cluster';
    const { host, port, path, sentinels, name } = this.client.options;
    if (sentinels) return `sentinel primary '${name}'`;
    return path ? `unix:${path}` : `${host ?? '127.0.0.1'}:${port ?? 6379}/${this.db}`;
  }

  retain(): void {
    this.users += 1;
    diagnostics.connectionUsers += 1;
    if (this.idleTimer !== undefined) {
      clearTimeout(this.idleTimer);
      this.idleTimer = undefined;
      if (this.owned) this.setRef(true);
    }
  }

  release(): void {
    this.users -= 1;
    diagnostics.connectionUsers -= 1;
    if (this.users > 0 || !this.owned) return;
    this.setRef(false);
    this.idleTimer = setTimeout(() => this.close(), IDLE_CLOSE_MS);
    this.idleTimer.unref();
  }

  /** The notification source if any waiter made one; never creates it. */
  get existingSubscriber(): NotificationSource | undefined {
    return this.notifications;
  }

  /**
   * The notification source for a waiter, made on first use. Locks of any
   * keyspaceEvents setting share it: it runs CONFIG if any waiter that
   * listens through it asked for 'configure' (see README, "keyspaceEvents").
   */
  subscriber(keyspaceEvents: KeyspaceEvents): NotificationSource {
    if (this.notifications === undefined) {
      const client = this.client;
      this.notifications = isCluster(client)
        ? new ClusterSubscriber(client)
        : new Subscriber(
            () => client.duplicate({ autoResubscribe: false, lazyConnect: false, disconnectTimeout: 100 }),
            (subscriber) => enableKeyspaceEvents(subscriber),
            undefined,
            () => client,
          );
    }
    if (keyspaceEvents === 'configure') this.notifications.requestKeyspaceEvents();
    return this.notifications;
  }

  /**
   * With `replicas`, after the acquisition script took the hold: confirms
   * that `request.token` still holds it and waits (Redis WAIT, at most
   * `request.timeout` ms) until `request.replicas` replicas have it.
   * Resolves how many acknowledged, or -1 when the token no longer holds the
   * lock. Rejects with RedisUnavailableError after `request.redisTimeout` of
   * silence or transient replies, or a LockError for any other error.
   *
   * It never runs on the data connection, nor on a client you passed: WAIT
   * blocks the connection it is sent on, and Redis answers nothing else there
   * until the replicas confirm or the timeout passes, which held up every
   * other lock and renewal sharing it. It runs on a few dedicated connections
   * per node (see Replication), each lent to one acquisition at a time and
   * closed after IDLE_CLOSE_MS unused. On a cluster it runs on the node that
   * really has the hold, following MOVED and ASK.
   */
  replicated(request: ReplicationRequest): Promise<number> {
    this.replication ??= new Replication(this.client, this.keyPrefix, IDLE_CLOSE_MS);
    return this.replication.confirm(request, this.server);
  }

  private setRef(ref: boolean): void {
    const clients = isCluster(this.client) ? this.client.nodes('all') : [this.client];
    for (const client of clients) setSocketRef(client, ref);
  }

  private close(): void {
    if (this.users > 0) return;
    this.idleTimer = undefined;
    this.forget();
    diagnostics.ownedClients -= 1;
    this.notifications?.close();
    this.notifications = undefined;
    this.replication?.close();
    this.replication = undefined;
    this.client.disconnect();
  }
}

function isCluster(client: DataClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

const owned = new Map<string, Connection>();
const borrowed = new WeakMap<DataClient, Connection>();

/** The shared connection for `source`, retained once for the caller. */
export function openConnection(source: RedisSource): Connection {
  const connection = isClient(source) ? borrowedConnection(source) : ownedConnection(source);
  connection.retain();
  return connection;
}

function isClient(source: RedisSource): source is DataClient {
  return typeof source === 'object' && typeof (source as { evalsha?: unknown }).evalsha === 'function';
}

function ownedConnection(source: string | RedisOptions | ClusterSource): Connection {
  const key = typeof source === 'string' ? source : sourceKey(source);
  let connection = owned.get(key);
  if (connection === undefined) {
    const client = createClient(source);
    diagnostics.ownedClients += 1;
    const created: Connection = new Connection(client, true, () => {
      if (owned.get(key) === created) owned.delete(key);
    });
    owned.set(key, created);
    connection = created;
  }
  return connection;
}

const identities = new WeakMap<object, number>();
let nextIdentity = 0;

/**
 * Which options share one connection. JSON.stringify alone drops functions
 * (retryStrategy, reconnectOnError, a Sentinel's natMap function...), so two
 * option objects that differ only in those would share one client and one of
 * them would be silently ignored. Functions and class instances therefore
 * count by identity; plain objects and arrays by value, keys sorted, so that
 * equal options written in another order still share.
 */
function sourceKey(source: RedisOptions | ClusterSource): string {
  return JSON.stringify(source, (_key, value: unknown) => {
    if (typeof value === 'function' || (typeof value === 'object' && value !== null && !byValue(value))) {
      let id = identities.get(value);
      if (id === undefined) {
        id = ++nextIdentity;
        identities.set(value, id);
      }
      return `[${typeof value} #${id}]`;
    }
    if (typeof value === 'object' && value !== null && !Array.isArray(value) && !Buffer.isBuffer(value)) {
      return Object.fromEntries(Object.entries(value).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
    }
    return value;
  });
}

function byValue(value: object): boolean {
  if (Array.isArray(value) || Buffer.isBuffer(value)) return true;
  const prototype = Object.getPrototypeOf(value) as unknown;
  return prototype === Object.prototype || prototype === null;
}

function createClient(source: string | RedisOptions | ClusterSource): DataClient {
  if (typeof source === 'string') return new Redis(source, OWNED_CLIENT_OPTIONS);
  if ('cluster' in source && Array.isArray(source.cluster)) return new Cluster(source.cluster, source.options);
  const options = source as RedisOptions;
  // Without it ioredis keeps writing to a demoted primary until Sentinel turns it into a replica.
  if (options.sentinels !== undefined) return new Redis({ ...OWNED_CLIENT_OPTIONS, failoverDetector: true, ...options });
  return new Redis({ ...OWNED_CLIENT_OPTIONS, ...options });
}

/**
 * Closing a client whose server went away otherwise leaves ioredis' 2 s
 * graceful-close timer holding the process open.
 */
const OWNED_CLIENT_OPTIONS = { disconnectTimeout: 100 } as const;

function borrowedConnection(client: DataClient): Connection {
  let connection = borrowed.get(client);
  if (connection === undefined) {
    connection = new Connection(client, false, () => undefined);
    borrowed.set(client, connection);
  }
  return connection;
}
