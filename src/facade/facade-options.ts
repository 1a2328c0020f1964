import {
  checkKeyspaceEvents,
  checkLease,
  checkOptionsObject,
  checkPrefix,
  checkRedisSource,
  checkRedisTimeout,
  checkReplication,
  checkSignal,
  checkTimeout,
  checkTtl,
  checkLine,
  describe,
  type KeyspaceEvents,
  type RedisSource,
} from '../core/options';

/** PyYADL's constructor parameters, in milliseconds. */
export interface RedisLockOptions {
  prefix?: string;
  /** ms; > 0 a fixed hold, absent or <= 0 held until release (a renewed lease). */
  ttl?: number;
  /** ms of a renewed hold, renewed every lease/3. Default 30000. */
  lease?: number;
  /**
   * An ioredis client or Cluster (PyYADL's `existing_connection_pool`), a URL,
   * ioredis options (Sentinel) or `{ cluster: seedNodes }`. Excludes host/port/password/db.
   */
  redis?: RedisSource;
  /** PyYADL's `redis_host`. Default 127.0.0.1. */
  host?: string;
  /** PyYADL's `redis_port`. Default 6379. */
  port?: number;
  /** PyYADL's `redis_password`. */
  password?: string;
  /** PyYADL's `redis_db`. Default 0. */
  db?: number;
  /** ms to wait for Redis to answer before RedisUnavailableError. Default 10000. */
  redisTimeout?: number;
  /** Replicas that must acknowledge each acquisition (WAIT). Default 0. */
  replicas?: number;
  /** ms to wait for them; then ReplicationError. Default 1000. */
  replicaTimeout?: number;
  /** Wait in the lock's fair line (FIFO across processes). Default false. */
  fair?: boolean;
  /** ms a fair waiter has to take a lock handed to it before it is skipped. Default 2000. */
  handoffGrace?: number;
  /** Who holds, for operators (query, `yadl ls`); at most 256 characters. Default `<hostname>:<pid>`. */
  label?: string;
  /** `configure` (default), `assume` or `off`: whether yadl runs CONFIG to turn expiry notifications on (see README). */
  keyspaceEvents?: KeyspaceEvents;
}

export interface AcquireOptions {
  /** false: one attempt. Default true. */
  blocking?: boolean;
  /** ms to wait; -1 (default) waits forever. Not with `blocking: false`. */
  timeout?: number;
  /** Aborting it abandons the wait: acquire rejects with `signal.reason`. */
  signal?: AbortSignal;
}

export interface ReleaseOptions {
  /** Release whoever holds the lock (PyYADL's `force=True`). */
  force?: boolean;
}

export interface FacadeSettings {
  readonly prefix: string;
  readonly ttl: number;
  readonly lease: number;
  readonly redis: RedisSource;
  readonly redisTimeout: number;
  readonly replicas: number;
  readonly replicaTimeout: number;
  readonly fair: boolean;
  readonly handoffGrace: number;
  readonly label: string;
  readonly keyspaceEvents: KeyspaceEvents;
}

/** The facade constructors' option names (RedisMultiLock adds `mode`). */
export const LOCK_OPTIONS = [
  'prefix',
  'ttl',
  'lease',
  'redis',
  'host',
  'port',
  'password',
  'db',
  'redisTimeout',
  'replicas',
  'replicaTimeout',
  'fair',
  'handoffGrace',
  'label',
  'keyspaceEvents',
] as const;

export function resolveFacadeOptions(options: unknown): FacadeSettings {
  const opts = checkOptionsObject(options, LOCK_OPTIONS, 'lock options');
  const server = opts.host !== undefined || opts.port !== undefined || opts.password !== undefined || opts.db !== undefined;
  if (opts.redis !== undefined && server) {
    throw new TypeError('give either redis (a client or URL) or host/port/password/db, not both');
  }
  return {
    prefix: checkPrefix(opts.prefix),
    ttl: checkTtl(opts.ttl),
    lease: checkLease(opts.lease),
    redis: server ? serverUrl(opts.host, opts.port, opts.password, opts.db) : checkRedisSource(opts.redis),
    redisTimeout: checkRedisTimeout(opts.redisTimeout),
    ...checkReplication(opts.replicas, opts.replicaTimeout),
    ...checkLine(opts.fair, opts.handoffGrace, opts.label),
    keyspaceEvents: checkKeyspaceEvents(opts.keyspaceEvents),
  };
}

function serverUrl(host: unknown, port: unknown, password: unknown, db: unknown): string {
  if (host !== undefined && (typeof host !== 'string' || host === '')) {
    throw new TypeError(`host must be a non-empty string, got ${describe(host)}`);
  }
  if (port !== undefined && typeof port !== 'number') throw new TypeError(`port must be a number, got ${describe(port)}`);
  if (port !== undefined && (!Number.isInteger(port) || port < 1 || port > 65535)) {
    throw new RangeError(`port must be a whole number from 1 to 65535, got ${describe(port)}`);
  }
  if (password !== undefined && typeof password !== 'string') {
    throw new TypeError(`password must be a string, got ${describe(password)}`);
  }
  if (db !== undefined && typeof db !== 'number') throw new TypeError(`db must be a number, got ${describe(db)}`);
  if (db !== undefined && (!Number.isInteger(db) || db < 0)) {
    throw new RangeError(`db must be a whole number >= 0, got ${describe(db)}`);
  }
  const hostname = host ?? '127.0.0.1';
  const bracketed = hostname.includes(':') ? `[${hostname}]` : hostname;
  const auth = password === undefined ? '' : `:${encodeURIComponent(password)}@`;
  return `redis://${auth}${bracketed}:${port ?? 6379}/${db ?? 0}`;
}

const ACQUIRE_OPTIONS = ['blocking', 'timeout', 'signal'] as const;

/** CPython's `Lock.acquire(blocking, timeout)` rules, checked before any I/O. Returns the lock$ timeout. */
export function resolveAcquireOptions(options: unknown): { timeout: number; signal: AbortSignal | undefined } {
  if (typeof options === 'boolean') {
    throw new TypeError(`acquire takes an options object: acquire({ blocking: ${String(options)} })`);
  }
  const opts = checkOptionsObject(options, ACQUIRE_OPTIONS, 'acquire options');
  if (opts.blocking !== undefined && typeof opts.blocking !== 'boolean') {
    throw new TypeError(`blocking must be a boolean, got ${describe(opts.blocking)}`);
  }
  const timeout = checkTimeout(opts.timeout);
  const signal = checkSignal(opts.signal);
  if (opts.blocking === false) {
    if (opts.timeout !== undefined && timeout !== -1) {
      throw new RangeError("can't specify a timeout for a non-blocking call");
    }
    return { timeout: 0, signal };
  }
  return { timeout, signal };
}

const RELEASE_OPTIONS = ['force'] as const;

export function resolveReleaseOptions(options: unknown): { force: boolean } {
  const opts = checkOptionsObject(options, RELEASE_OPTIONS, 'release options');
  if (opts.force !== undefined && typeof opts.force !== 'boolean') {
    throw new TypeError(`force must be a boolean, got ${describe(opts.force)}`);
  }
  return { force: opts.force === true };
}
