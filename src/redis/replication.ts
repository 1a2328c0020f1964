import { Redis, type Cluster } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { diagnostics } from '../diagnostics';
import { LockError, RedisUnavailableError } from '../errors';
import { isTransient } from './deadline';
import { redact } from './redact';
import { setSocketRef } from './socket-ref';

/**
 * Most connections kept per Redis node for `replicas`: that many
 * replicated acquisitions confirm at once, and more wait for a free one.
 */
export const REPLICATION_LINKS_PER_NODE = 4;
/** Pause before trying again after a transient reply (TRYAGAIN, CLUSTERDOWN, LOADING, READONLY...). */
export const REPLICATION_RETRY_MS = 100;
/** Like ioredis' maxRedirections: MOVED/ASK followed at most this often in one confirmation. */
const MAX_REDIRECTIONS = 16;
/** The node of a non-cluster deployment (a server, or the primary that Sentinel names). */
const PRIMARY = 'primary';

/** What `replicas` asks of one acquisition. */
export interface ReplicationRequest {
  /** The hold's name, for messages. */
  readonly name: string;
  /** The key whose slot the hold lives in. */
  readonly slotKey: string;
  /**
   * Runs the kind's confirm script on `client` (after ASKING when `asking`):
   * true when the token still holds, its hold rewritten unchanged.
   */
  readonly confirm: (client: Redis, asking: boolean) => Promise<boolean>;
  /** Replicas that must acknowledge the hold. */
  readonly replicas: number;
  /** ms that WAIT may block (replicaTimeout). */
  readonly timeout: number;
  /** ms to keep trying while Redis is silent or answers transient errors (redisTimeout). */
  readonly redisTimeout: number;
}

/**
 * WAIT for the replicas of one acquisition, on connections of yadl's own.
 *
 * WAIT blocks the connection that sends it until enough replicas have that
 * connection's last write, and Redis answers nothing else on it meanwhile.
 * On the shared data connection (or the caller's own client) it held up every
 * other lock and renewal for up to replicaTimeout. So each confirmation takes
 * a dedicated connection to the node that holds the lock, runs the confirm
 * script there (it rewrites the hold, so this connection's last write comes
 * after the acquisition) and then WAIT, on that same connection, and gives the
 * connection back. At most REPLICATION_LINKS_PER_NODE per node; each closes
 * after `idleMs` unused.
 *
 * On a cluster the script goes to the slot's owner and follows MOVED, and ASK
 * (with ASKING) during a migration, so WAIT counts the replicas of the node
 * that really has the hold: not the one ioredis' slot cache names, which it
 * does not update when it follows ASK.
 */
export class Replication {
  private readonly links: Links;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly keyPrefix: string,
    idleMs: number,
  ) {
    this.links = new Links((node) => this.connect(node), idleMs);
  }

  /**
   * How many replicas acknowledged the hold of `request.token`, or -1 when
   * it no longer holds the lock. Rejects with RedisUnavailableError when
   * Redis stayed silent or kept answering transient errors for redisTimeout,
   * and with a LockError (its cause: Redis' answer) on any other error.
   */
  async confirm(request: ReplicationRequest, server: string): Promise<number> {
    const started = performance.now();
    const { name, slotKey } = request;
    let node = this.ownerOf(slotKey);
    let asking = false;
    let redirections = 0;
    let lastError: unknown;
    for (;;) {
      if (node !== undefined) {
        const target = node;
        const ask = asking;
        try {
          return await this.links.use(target, async (client) => {
            if (!(await request.confirm(client, ask))) return -1;
            return Number(await client.wait(request.replicas, request.timeout));
          });
        } catch (error) {
          const redirect = redirection(error, target);
          if (redirect !== undefined && redirections < MAX_REDIRECTIONS) {
            redirections += 1;
            node = redirect.node;
            asking = redirect.ask;
            if (!redirect.ask) this.refreshSlots();
            continue;
          }
          if (!isTransient(error) && redirect === undefined) {
            throw new LockError(`could not confirm lock '${name}' on its replicas: ${errorText(error)}`, name, {
              cause: error,
            });
          }
          lastError = error;
        }
      }
      const waited = performance.now() - started;
      if (waited >= request.redisTimeout) {
        throw new RedisUnavailableError(name, server, request.redisTimeout, { cause: lastError, waited: Math.round(waited) });
      }
      await new Promise((resolve) => setTimeout(resolve, REPLICATION_RETRY_MS));
      node = this.ownerOf(slotKey);
      asking = false;
    }
  }

  close(): void {
    this.links.close();
  }

  /** Where the lock's slot lives as far as the client knows (asks for the map when it does not). */
  private ownerOf(slotKey: string): string | undefined {
    if (!isCluster(this.client)) return PRIMARY;
    const owner = this.client.slots[calculateSlot(this.keyPrefix + slotKey)]?.[0];
    if (owner === undefined) this.refreshSlots();
    return owner;
  }

  private refreshSlots(): void {
    if (isCluster(this.client)) this.client.refreshSlotsCache();
  }

  private connect(node: string): Redis {
    const dedicated = { enableOfflineQueue: true, lazyConnect: false, disconnectTimeout: 100 } as const;
    if (!isCluster(this.client)) return this.client.duplicate(dedicated);
    const colon = node.lastIndexOf(':');
    return new Redis({
      ...this.client.options.redisOptions,
      ...dedicated,
      host: node.slice(0, colon),
      port: Number(node.slice(colon + 1)),
      keyPrefix: this.keyPrefix,
      readOnly: false,
    });
  }
}

const REDIRECTION = /^(MOVED|ASK) \d+ (\S*):(\d+)$/;

/** The node a MOVED or ASK reply sends to (its host may be empty: the one asked). */
function redirection(error: unknown, from: string): { node: string; ask: boolean } | undefined {
  if (!(error instanceof Error) || error.name !== 'ReplyError') return undefined;
  const match = REDIRECTION.exec(error.message);
  if (match === null) return undefined;
  const host = match[2] === '' || match[2] === '?' ? from.slice(0, from.lastIndexOf(':')) : match[2];
  return { node: `${host}:${match[3]}`, ask: match[1] === 'ASK' };
}

function errorText(error: unknown): string {
  return error instanceof Error ? redact(error).message : String(error);
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

/** Not transient: a confirmation still running when its connection closed ends with it. */
function closedError(): LockError {
  return new LockError('the connection yadl opened for this deployment was closed');
}

interface Link {
  readonly client: Redis;
  idleTimer: NodeJS.Timeout | undefined;
}

interface NodeLinks {
  readonly idle: Link[];
  open: number;
  readonly waiting: { resolve: (link: Link) => void; reject: (error: Error) => void }[];
}

/**
 * Dedicated connections per node, each lent to one user at a time: WAIT
 * counts the last write of the connection it runs on, so no one else's
 * command may come between the confirm script and WAIT, nor run behind them.
 */
class Links {
  private readonly nodes = new Map<string, NodeLinks>();
  private readonly all = new Set<Link>();
  private closed = false;

  constructor(
    private readonly open: (node: string) => Redis,
    private readonly idleMs: number,
  ) {}

  async use<T>(node: string, work: (client: Redis) => Promise<T>): Promise<T> {
    const link = await this.take(node);
    try {
      return await work(link.client);
    } finally {
      this.give(node, link);
    }
  }

  close(): void {
    this.closed = true;
    for (const link of [...this.all]) this.drop(link);
    for (const links of this.nodes.values()) {
      for (const waiter of links.waiting.splice(0)) waiter.reject(closedError());
    }
    this.nodes.clear();
  }

  private take(node: string): Promise<Link> {
    if (this.closed) return Promise.reject(closedError());
    let links = this.nodes.get(node);
    if (links === undefined) {
      links = { idle: [], open: 0, waiting: [] };
      this.nodes.set(node, links);
    }
    const idle = links.idle.pop();
    if (idle !== undefined) {
      clearTimeout(idle.idleTimer);
      idle.idleTimer = undefined;
      setSocketRef(idle.client, true);
      return Promise.resolve(idle);
    }
    if (links.open < REPLICATION_LINKS_PER_NODE) {
      links.open += 1;
      const client = this.open(node);
      client.on('error', () => {
        // ioredis reconnects by itself; the commands that fail meanwhile say why.
      });
      diagnostics.ownedClients += 1;
      const link: Link = { client, idleTimer: undefined };
      this.all.add(link);
      return Promise.resolve(link);
    }
    const waiting = links.waiting;
    return new Promise((resolve, reject) => waiting.push({ resolve, reject }));
  }

  private give(node: string, link: Link): void {
    const links = this.nodes.get(node);
    if (this.closed || links === undefined || !this.all.has(link)) {
      this.drop(link);
      return;
    }
    const next = links.waiting.shift();
    if (next !== undefined) {
      next.resolve(link);
      return;
    }
    links.idle.push(link);
    setSocketRef(link.client, false);
    link.idleTimer = setTimeout(() => {
      const at = links.idle.indexOf(link);
      if (at >= 0) links.idle.splice(at, 1);
      links.open -= 1;
      this.drop(link);
    }, this.idleMs);
    link.idleTimer.unref();
  }

  private drop(link: Link): void {
    clearTimeout(link.idleTimer);
    if (!this.all.delete(link)) return;
    diagnostics.ownedClients -= 1;
    link.client.disconnect();
  }
}
