import type { Cluster, Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import {
  checkName,
  checkOptionsObject,
  checkPrefix,
  checkRedisSource,
  checkRedisTimeout,
  describe,
  type RedisSource,
} from '../core/options';
import { LockError, RedisUnavailableError } from '../errors';
import { openConnection, type Connection } from '../redis/connection';
import { isTransient } from '../redis/deadline';
import { lockKeys, type LockKeys } from '../redis/keys';
import { redact } from '../redis/redact';
import { readLockHash, serverMs, type HoldInfo, type LockReading } from './hold-info';
import { globMatcher, nameOfKey, scanPattern } from './lock-names';

export interface QueryOptions {
  /** Where the locks live, as for `lock$`; a Cluster is scanned on every primary. */
  redis: RedisSource;
  /** Only locks under this prefix (default: none, i.e. locks made without a prefix). */
  prefix?: string;
  /** A Redis-style glob on lock names (`*`, `?`, `[a-z]`, backslash escapes). Default: every name. */
  match?: string;
  /** ms each Redis command may take before RedisUnavailableError. Default 10000. */
  redisTimeout?: number;
}

/** Keys per SCAN step: big enough for few round trips, small enough not to stall Redis. */
const SCAN_COUNT = 500;

type DataClient = Redis | Cluster;

/**
 * Every live hold under a prefix: one entry for a writer, one per reader.
 * Scans (SCAN MATCH, never KEYS) every primary of a Cluster. Holds are judged
 * live by each server's own clock (TIME), so a dead reader's field that is
 * still in Redis is not reported. Owner tokens are never returned.
 *
 * Errors: TypeError or RangeError for bad options, before any I/O;
 * RedisUnavailableError when a server does not answer within `redisTimeout`;
 * LockError (with the cause) when Redis refuses a command.
 */
export async function query(options: QueryOptions): Promise<HoldInfo[]> {
  const { redis, prefix, match, redisTimeout } = resolveQueryOptions(options);
  return withAdminConnection(redis, redisTimeout, async (admin) => {
    const nodes = await admin.primaries();
    const pattern = scanPattern(admin.connection.keyPrefix, prefix, match);
    const wanted = match === undefined ? () => true : globMatcher(match);
    const perNode = await Promise.all(nodes.map((node) => scanNode(admin, node, pattern, prefix, wanted)));
    const seen = new Set<string>();
    const holds: HoldInfo[] = [];
    // A key met twice (SCAN may repeat one; a slot moving between nodes) counts once.
    for (const [name, reading] of perNode.flat()) {
      if (seen.has(name)) continue;
      seen.add(name);
      holds.push(...reading.holds);
    }
    return holds.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  });
}

/** One lock in detail, for operators: its holders, waiting writers, and the state key's ttl. */
export interface LockDetails extends LockReading {
  readonly name: string;
  readonly prefix: string;
  /** The state key's remaining ttl in ms (its longest hold); -2 when there is no key. */
  readonly keyTtlMs: number;
  /**
   * Processes subscribed to the lock's keyspace channel: waiting processes
   * (one subscription each, however many waiters), watchers, and for half a
   * second after their last waiter left, processes that waited.
   */
  readonly listeners: number;
}

/** Reads one lock, changing nothing: the hash, the server's clock, the key's ttl and its channel's listeners. */
export async function readLock(options: {
  redis: RedisSource;
  name: string;
  prefix?: string;
  redisTimeout?: number;
}): Promise<LockDetails> {
  const name = checkName(options.name);
  const prefix = checkPrefix(options.prefix);
  const redisTimeout = checkRedisTimeout(options.redisTimeout);
  return withAdminConnection(checkRedisSource(options.redis), redisTimeout, async (admin) => {
    const keys = lockKeys(prefix, name, admin.connection.db, admin.connection.keyPrefix);
    const [time, fields, ttl] = await admin.run(`read ${keys.state}`, (client) =>
      settled(client.pipeline().time().hgetall(keys.state).pttl(keys.state).exec()),
    );
    const reading = readLockHash(name, prefix, asFields(keys.state, name, fields), admin.clock(time));
    const listeners = await admin.run('PUBSUB NUMSUB', () => admin.listeners(keys));
    return { name, prefix, ...reading, keyTtlMs: typeof ttl === 'number' ? ttl : -2, listeners };
  });
}

function resolveQueryOptions(options: unknown): {
  redis: RedisSource;
  prefix: string;
  match: string | undefined;
  redisTimeout: number;
} {
  const opts = checkOptionsObject(options, ['redis', 'prefix', 'match', 'redisTimeout'] as const, 'query options');
  if (opts.match !== undefined && typeof opts.match !== 'string') {
    throw new TypeError(`match must be a glob string, got ${describe(opts.match)}`);
  }
  if (opts.redis === undefined) throw new TypeError('query options need redis: where the locks live');
  return {
    redis: checkRedisSource(opts.redis),
    prefix: checkPrefix(opts.prefix),
    match: opts.match,
    redisTimeout: checkRedisTimeout(opts.redisTimeout),
  };
}

/** A connection for admin reads, with every command bounded by redisTimeout and every error a yadl error. */
class AdminConnection {
  constructor(
    readonly connection: Connection,
    private readonly redisTimeout: number,
  ) {}

  get client(): DataClient {
    return this.connection.client;
  }

  /** `what` names the command for error messages (never its arguments: they can hold keys only, but stay short). */
  async run<T>(what: string, send: (client: DataClient) => Promise<T>): Promise<T> {
    try {
      return await this.connection.deadlines.watch(send(this.client), this.redisTimeout, () => this.unavailable());
    } catch (error) {
      throw this.asYadlError(error, what);
    }
  }

  /** The servers that hold data: the client itself, or every primary of a Cluster. */
  async primaries(): Promise<Redis[]> {
    const client = this.client;
    if (!isCluster(client)) return [client];
    // Until the cluster answered once, ioredis knows no nodes.
    if (client.status !== 'ready') await this.run('CLUSTER SLOTS', (c) => (c as Cluster).cluster('SLOTS'));
    const primaries = client.nodes('master');
    if (primaries.length === 0) throw new LockError('the Redis Cluster reports no primary');
    return primaries;
  }

  /** Subscribers of the lock's channel on the server that publishes it (a Cluster's: the slot's primary). */
  async listeners(keys: LockKeys): Promise<number> {
    const client = this.client;
    let node: Redis | undefined;
    if (isCluster(client)) {
      const owner = client.slots[calculateSlot(keys.state)]?.[0];
      node = client.nodes('master').find((n) => `${n.options.host}:${n.options.port}` === owner);
    } else {
      node = client;
    }
    if (node === undefined) return 0;
    const reply = await node.call('PUBSUB', 'NUMSUB', keys.channel);
    return Array.isArray(reply) ? Number(reply[1]) : 0;
  }

  /** TIME's reply as epoch ms, or the yadl error for what the server answered instead. */
  clock(time: unknown): number {
    if (time instanceof Error) throw this.asYadlError(time, 'TIME');
    try {
      return serverMs(time);
    } catch (error) {
      throw this.asYadlError(error, 'TIME');
    }
  }

  unavailable(cause: unknown = this.connection.lastError): RedisUnavailableError {
    return new RedisUnavailableError(undefined, this.connection.server, this.redisTimeout, { cause });
  }

  asYadlError(error: unknown, what: string): LockError {
    if (error instanceof LockError) return error;
    redact(error);
    if (isTransient(error)) return this.unavailable(error);
    const message = error instanceof Error ? error.message : String(error);
    return new LockError(`Redis at ${this.connection.server} refused ${what}: ${message}`, undefined, { cause: error });
  }
}

async function withAdminConnection<T>(
  redis: RedisSource,
  redisTimeout: number,
  use: (admin: AdminConnection) => Promise<T>,
): Promise<T> {
  const connection = openConnection(redis);
  try {
    return await use(new AdminConnection(connection, redisTimeout));
  } finally {
    connection.release();
  }
}

/** The locks of one server's keys that match: [name, what its hash says]. */
async function scanNode(
  admin: AdminConnection,
  node: Redis,
  pattern: string,
  prefix: string,
  wanted: (name: string) => boolean,
): Promise<[string, LockReading][]> {
  const where = `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`;
  const found: [string, LockReading][] = [];
  let cursor = '0';
  do {
    const [next, keys] = await admin.run(`SCAN on ${where}`, () => node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT));
    cursor = next;
    const locks = keys.flatMap((key): { key: string; name: string }[] => {
      const name = nameOfKey(key.slice(admin.connection.keyPrefix.length), prefix);
      return name !== undefined && wanted(name) ? [{ key, name }] : [];
    });
    if (locks.length > 0) found.push(...(await readPage(admin, node, where, locks, prefix)));
  } while (cursor !== '0');
  return found;
}

/**
 * The hashes of one SCAN page, read from the node that listed them with one
 * pipeline after its TIME. A key whose slot moved meanwhile (MOVED) is read
 * again through the cluster client, which finds its new node.
 */
async function readPage(
  admin: AdminConnection,
  node: Redis,
  where: string,
  locks: { key: string; name: string }[],
  prefix: string,
): Promise<[string, LockReading][]> {
  // ioredis adds the node's own keyPrefix to the keys it sends; SCAN returned them with it.
  const nodePrefix = node.options.keyPrefix ?? '';
  const replies = await admin.run(`HGETALL on ${where}`, () => {
    const pipeline = node.pipeline().time();
    for (const { key } of locks) pipeline.hgetall(key.slice(nodePrefix.length));
    return settled(pipeline.exec());
  });
  const [time, ...hashes] = replies;
  const nowMs = admin.clock(time);
  const readings: [string, LockReading][] = [];
  for (const [i, { key, name }] of locks.entries()) {
    const hash = hashes[i];
    if (hash instanceof Error) {
      // A key of another type at a lock's place is not a lock: not listed.
      if (/^WRONGTYPE/.test(hash.message)) continue;
      if (!/^(MOVED|ASK)\b/.test(hash.message)) throw admin.asYadlError(hash, `HGETALL on ${where}`);
      const moved = await readMoved(admin, key.slice(admin.connection.keyPrefix.length), name, prefix);
      if (moved !== undefined) readings.push([name, moved]);
      continue;
    }
    readings.push([name, readLockHash(name, prefix, asFields(key, name, hash), nowMs)]);
  }
  return readings;
}

async function readMoved(admin: AdminConnection, key: string, name: string, prefix: string): Promise<LockReading | undefined> {
  const [time, hash] = await admin.run(`HGETALL ${key}`, (client) => settled(client.pipeline().time().hgetall(key).exec()));
  if (hash instanceof Error) {
    if (/^WRONGTYPE/.test(hash.message)) return undefined;
    throw admin.asYadlError(hash, `HGETALL ${key}`);
  }
  return readLockHash(name, prefix, asFields(key, name, hash), admin.clock(time));
}

/** A pipeline's replies, each a value or the Error Redis answered for that command. */
async function settled(pipeline: Promise<[Error | null, unknown][] | null>): Promise<unknown[]> {
  const replies = await pipeline;
  if (replies === null) throw new Error('the pipeline was discarded');
  return replies.map(([error, value]) => error ?? value);
}

/** HGETALL's reply (ioredis turns it into an object) as field -> value. */
function asFields(key: string, name: string, reply: unknown): Record<string, string> {
  if (reply instanceof Error) {
    throw new LockError(`cannot read the state of lock '${name}' at ${key}: ${reply.message}`, name, { cause: reply });
  }
  if (Array.isArray(reply)) {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) fields[String(reply[i])] = String(reply[i + 1]);
    return fields;
  }
  if (typeof reply === 'object' && reply !== null) return reply as Record<string, string>;
  throw new LockError(`unexpected reply reading lock '${name}' at ${key}: ${typeof reply}`, name);
}

function isCluster(client: DataClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}
