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
import { lockKeys, semaphoreKeys, type LockKeys } from '../redis/keys';
import { redact } from '../redis/redact';
import { readElectionHash } from './election-hash';
import {
  readLockHash,
  serverMs,
  type ElectionInfo,
  type HoldInfo,
  type HoldInfoKind,
  type LockReading,
  type SemaphoreInfo,
} from './hold-info';
import { globMatcher, HOLD_INFO_KINDS, holdOfKey, scanPattern } from './lock-names';
import { readSemaphoreHash } from './semaphore-hash';

export interface QueryOptions<K extends HoldInfoKind = HoldInfoKind> {
  /** Where the holds live, as for `lock$`; a Cluster is scanned on every primary. */
  redis: RedisSource;
  /** Only holds under this prefix (default: none, i.e. holds made without a prefix). */
  prefix?: string;
  /** A Redis-style glob on names (`*`, `?`, `[a-z]`, backslash escapes). Default: every name. */
  match?: string;
  /** Only this kind of hold: `'lock'`, `'semaphore'` or `'election'`. Default: every kind. */
  kind?: K;
  /** ms each Redis command may take before RedisUnavailableError. Default 10000. */
  redisTimeout?: number;
}

/** Keys per SCAN step: big enough for few round trips, small enough not to stall Redis. */
const SCAN_COUNT = 500;

type DataClient = Redis | Cluster;

/**
 * Every live hold under a prefix: for a lock, one entry for a writer, one
 * per reader; for a semaphore, one entry with its grants, when it has any;
 * for an election, one entry with its leader, when it has one. Sorted by
 * name (locks, semaphores, elections of one name in that order). Scans
 * (SCAN MATCH, never KEYS) every primary of a Cluster, and only reads (one
 * HGETALL per key and the server's TIME): it changes nothing. Holds are
 * judged live by each server's own clock, so a dead reader's or grant's
 * field that is still in Redis is not reported. Owner tokens are never
 * returned.
 *
 * Errors: TypeError or RangeError for bad options, before any I/O;
 * RedisUnavailableError when a server does not answer within `redisTimeout`;
 * LockError (with the cause) when Redis refuses a command.
 */
export async function query<K extends HoldInfoKind = HoldInfoKind>(options: QueryOptions<K>): Promise<Extract<HoldInfo, { kind: K }>[]> {
  const { redis, prefix, match, kind, redisTimeout } = resolveQueryOptions(options);
  const scope: Scope = {
    prefix,
    kinds: kind === undefined ? HOLD_INFO_KINDS : [kind],
    wanted: match === undefined ? () => true : globMatcher(match),
  };
  const holds = await withAdminConnection(redis, redisTimeout, async (admin) => {
    const nodes = await admin.primaries();
    const pattern = scanPattern(admin.connection.keyPrefix, prefix, match, kind);
    const perNode = await Promise.all(nodes.map((node) => scanNode(admin, node, pattern, scope)));
    const seen = new Set<string>();
    const found: HoldInfo[] = [];
    // A key met twice (SCAN may repeat one; a slot moving between nodes) counts once.
    for (const [key, reading] of perNode.flat()) {
      if (seen.has(key)) continue;
      seen.add(key);
      found.push(...reading);
    }
    return found.sort((a, b) =>
      a.name < b.name ? -1 : a.name > b.name ? 1 : HOLD_INFO_KINDS.indexOf(a.kind) - HOLD_INFO_KINDS.indexOf(b.kind),
    );
  });
  return holds as Extract<HoldInfo, { kind: K }>[];
}

/** What one query looks for. */
interface Scope {
  readonly prefix: string;
  readonly kinds: readonly HoldInfoKind[];
  readonly wanted: (name: string) => boolean;
}

/** What one state hash says, as query entries: a lock's holds, a semaphore in use, an election's leader (or nothing). */
function entriesOf(kind: HoldInfoKind, name: string, prefix: string, fields: Record<string, string>, nowMs: number): HoldInfo[] {
  if (kind === 'lock') return readLockHash(name, prefix, fields, nowMs).holds;
  if (kind === 'semaphore') {
    const semaphore = readSemaphoreHash(name, prefix, fields, nowMs);
    return semaphore.holders.length > 0 ? [semaphore] : [];
  }
  const leader = readElectionHash(name, prefix, fields, nowMs);
  return leader === undefined ? [] : [leader];
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

/** Where one hold lives, for readLock, readSemaphore and readElection. */
export interface HoldAddress {
  redis: RedisSource;
  name: string;
  prefix?: string;
  redisTimeout?: number;
}

/** What every detailed read adds: the state key's ttl and its channel's listeners (see LockDetails). */
interface KeyDetails {
  readonly keyTtlMs: number;
  readonly listeners: number;
}

/** Reads one lock, changing nothing: the hash, the server's clock, the key's ttl and its channel's listeners. */
export async function readLock(options: HoldAddress): Promise<LockDetails> {
  return readDetails(options, lockKeys, (name, prefix, fields, nowMs) => ({ name, prefix, ...readLockHash(name, prefix, fields, nowMs) }));
}

/** One semaphore in detail, for operators; `holders` is empty when none is held. */
export interface SemaphoreDetails extends SemaphoreInfo, KeyDetails {}

/** Reads one semaphore, changing nothing, as readLock reads a lock. */
export async function readSemaphore(options: HoldAddress): Promise<SemaphoreDetails> {
  return readDetails(options, semaphoreKeys, readSemaphoreHash);
}

/** One election in detail, for operators. */
export interface ElectionDetails extends KeyDetails {
  readonly name: string;
  readonly prefix: string;
  readonly kind: 'election';
  /** Its live leader, or null when nobody leads. */
  readonly leader: ElectionInfo | null;
}

/** Reads one election, changing nothing, as readLock reads a lock. */
export async function readElection(options: HoldAddress): Promise<ElectionDetails> {
  return readDetails(
    options,
    (prefix, name, db, keyPrefix) => lockKeys(prefix, name, db, keyPrefix, 'election'),
    (name, prefix, fields, nowMs) => ({ name, prefix, kind: 'election', leader: readElectionHash(name, prefix, fields, nowMs) ?? null }),
  );
}

/** The hash, the server's clock, the key's ttl and its channel's listeners of one hold, read with one pipeline and PUBSUB. */
async function readDetails<T>(
  options: HoldAddress,
  keysOf: (prefix: string, name: string, db: number, clientKeyPrefix: string) => LockKeys,
  read: (name: string, prefix: string, fields: Record<string, string>, nowMs: number) => T,
): Promise<T & KeyDetails> {
  const name = checkName(options.name);
  const prefix = checkPrefix(options.prefix);
  const redisTimeout = checkRedisTimeout(options.redisTimeout);
  return withAdminConnection(checkRedisSource(options.redis), redisTimeout, async (admin) => {
    const keys = keysOf(prefix, name, admin.connection.db, admin.connection.keyPrefix);
    const [time, fields, ttl] = await admin.run(`read ${keys.state}`, (client) =>
      settled(client.pipeline().time().hgetall(keys.state).pttl(keys.state).exec()),
    );
    const reading = read(name, prefix, asFields(keys.state, name, fields), admin.clock(time));
    const listeners = await admin.run('PUBSUB NUMSUB', () => admin.listeners(keys));
    return { ...reading, keyTtlMs: typeof ttl === 'number' ? ttl : -2, listeners };
  });
}

function resolveQueryOptions(options: unknown): {
  redis: RedisSource;
  prefix: string;
  match: string | undefined;
  kind: HoldInfoKind | undefined;
  redisTimeout: number;
} {
  const opts = checkOptionsObject(options, ['redis', 'prefix', 'match', 'kind', 'redisTimeout'] as const, 'query options');
  if (opts.match !== undefined && typeof opts.match !== 'string') {
    throw new TypeError(`match must be a glob string, got ${describe(opts.match)}`);
  }
  if (opts.kind !== undefined && !(HOLD_INFO_KINDS as readonly unknown[]).includes(opts.kind)) {
    throw new TypeError(`kind must be 'lock', 'semaphore' or 'election', got ${describe(opts.kind)}`);
  }
  if (opts.redis === undefined) throw new TypeError('query options need redis: where the holds live');
  return {
    redis: checkRedisSource(opts.redis),
    prefix: checkPrefix(opts.prefix),
    match: opts.match,
    kind: opts.kind as HoldInfoKind | undefined,
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

/** The holds of one server's keys that match: [kind and name, its entries]. */
async function scanNode(admin: AdminConnection, node: Redis, pattern: string, scope: Scope): Promise<[string, HoldInfo[]][]> {
  const where = `${node.options.host ?? '127.0.0.1'}:${node.options.port ?? 6379}`;
  const found: [string, HoldInfo[]][] = [];
  let cursor = '0';
  do {
    const [next, keys] = await admin.run(`SCAN on ${where}`, () => node.scan(cursor, 'MATCH', pattern, 'COUNT', SCAN_COUNT));
    cursor = next;
    const holds = keys.flatMap((key): StateKey[] => {
      const hold = holdOfKey(key.slice(admin.connection.keyPrefix.length), scope.prefix, scope.kinds);
      return hold !== undefined && scope.wanted(hold.name) ? [{ key, ...hold }] : [];
    });
    if (holds.length > 0) found.push(...(await readPage(admin, node, where, holds, scope.prefix)));
  } while (cursor !== '0');
  return found;
}

/** A state key SCAN listed (with the client's keyPrefix), and the hold it is. */
interface StateKey {
  readonly key: string;
  readonly kind: HoldInfoKind;
  readonly name: string;
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
  holds: StateKey[],
  prefix: string,
): Promise<[string, HoldInfo[]][]> {
  // ioredis adds the node's own keyPrefix to the keys it sends; SCAN returned them with it.
  const nodePrefix = node.options.keyPrefix ?? '';
  const replies = await admin.run(`HGETALL on ${where}`, () => {
    const pipeline = node.pipeline().time();
    for (const { key } of holds) pipeline.hgetall(key.slice(nodePrefix.length));
    return settled(pipeline.exec());
  });
  const [time, ...hashes] = replies;
  const nowMs = admin.clock(time);
  const readings: [string, HoldInfo[]][] = [];
  for (const [i, hold] of holds.entries()) {
    const hash = hashes[i];
    const id = `${hold.kind}:${hold.name}`;
    if (hash instanceof Error) {
      // A key of another type at a hold's place is not a hold: not listed.
      if (/^WRONGTYPE/.test(hash.message)) continue;
      if (!/^(MOVED|ASK)\b/.test(hash.message)) throw admin.asYadlError(hash, `HGETALL on ${where}`);
      const moved = await readMoved(admin, hold, prefix);
      if (moved !== undefined) readings.push([id, moved]);
      continue;
    }
    readings.push([id, entriesOf(hold.kind, hold.name, prefix, asFields(hold.key, hold.name, hash), nowMs)]);
  }
  return readings;
}

async function readMoved(admin: AdminConnection, hold: StateKey, prefix: string): Promise<HoldInfo[] | undefined> {
  const key = hold.key.slice(admin.connection.keyPrefix.length);
  const [time, hash] = await admin.run(`HGETALL ${key}`, (client) => settled(client.pipeline().time().hgetall(key).exec()));
  if (hash instanceof Error) {
    if (/^WRONGTYPE/.test(hash.message)) return undefined;
    throw admin.asYadlError(hash, `HGETALL ${key}`);
  }
  return entriesOf(hold.kind, hold.name, prefix, asFields(key, hold.name, hash), admin.clock(time));
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
    throw new LockError(`cannot read the state of '${name}' at ${key}: ${reply.message}`, name, { cause: reply });
  }
  if (Array.isArray(reply)) {
    const fields: Record<string, string> = {};
    for (let i = 0; i + 1 < reply.length; i += 2) fields[String(reply[i])] = String(reply[i + 1]);
    return fields;
  }
  if (typeof reply === 'object' && reply !== null) return reply as Record<string, string>;
  throw new LockError(`unexpected reply reading '${name}' at ${key}: ${typeof reply}`, name);
}

function isCluster(client: DataClient): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}
