import type { RedisSource } from '../redis/connection';
import type { HoldKind } from '../redis/hold-kind';
import { DEFAULT_HANDOFF_GRACE, DEFAULT_LABEL, lockKind } from '../redis/kinds/lock-kind';
import { KEYSPACE_EVENTS, type KeyspaceEvents } from '../redis/keyspace-events';

export type { KeyspaceEvents, RedisSource };

/**
 * `exclusive` (the default) and `write` are the same lock: one holder.
 * `read` shares the lock with other readers and excludes writers.
 */
export type LockMode = 'exclusive' | 'write' | 'read';

/** How a hold is taken: `exclusive` is recorded as `write`. */
export type HoldMode = 'write' | 'read';

export interface LockOptions {
  /**
   * An ioredis client or Cluster, which yadl never closes; a URL; ioredis
   * options (e.g. Sentinel's `sentinels` and `name`); or `{ cluster: seedNodes }`.
   * Default `redis://127.0.0.1:6379/0`.
   */
  redis?: RedisSource;
  /** Namespace of the lock's keys (PyYADL's `prefix`). Default: none. */
  prefix?: string;
  /**
   * Milliseconds the hold lasts; it is never renewed. Absent, 0 or negative
   * (PyYADL: "valid until release"): held until released, kept alive by
   * renewing a `lease`.
   */
  ttl?: number;
  /** Milliseconds of a renewed hold, renewed every `lease / 3`. Default 30000. */
  lease?: number;
  /** Milliseconds to wait for the lock: absent or -1 waits forever, 0 makes one attempt. */
  timeout?: number;
  /** Aborting it abandons the wait, or releases the hold, and errors with `signal.reason`. */
  signal?: AbortSignal;
  /** `exclusive` (default) or `write`, which are the same lock, or `read`. */
  mode?: LockMode;
  /**
   * Milliseconds to wait for Redis to answer before failing with
   * RedisUnavailableError (unreachable, refusing or stalled). Default 10000.
   */
  redisTimeout?: number;
  /**
   * Replicas that must acknowledge each acquisition (Redis WAIT) before the
   * lease is emitted, so that a failover keeps the hold. Default 0 (off).
   */
  replicas?: number;
  /** Milliseconds to wait for those acknowledgements; then ReplicationError. Default 1000. */
  replicaTimeout?: number;
  /**
   * Wait in the lock's fair line: across processes, the lock goes to waiting
   * acquisitions in the order their first blocked attempts reached Redis,
   * and a release hands it to the head directly. Default false.
   */
  fair?: boolean;
  /**
   * Milliseconds a fair waiter has to take a lock handed to it (its process
   * confirms with one command); one that does not (a dead process) is
   * skipped after it. Default 2000.
   */
  handoffGrace?: number;
  /**
   * Who holds, for operators: kept beside the hold in Redis and shown by
   * `query` and `yadl ls` (at most 256 characters). Default `<hostname>:<pid>`.
   * Never put a secret here: anyone who can read the key can read it.
   */
  label?: string;
  /**
   * Whether yadl turns on Redis' expiry notifications for waiters:
   * `configure` (default: CONFIG SET merges `Kx` into notify-keyspace-events),
   * `assume` (never runs CONFIG; the server has them on) or `off` (never runs
   * CONFIG; expiries are noticed at the deadline retry). See README.
   */
  keyspaceEvents?: KeyspaceEvents;
}

export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379/0';
export const DEFAULT_LEASE = 30_000;
export const DEFAULT_REDIS_TIMEOUT = 10_000;
/** A renewal every lease/3 must fit several round trips, so leases are not shorter than this. */
export const MIN_LEASE = 30;
/** setTimeout's ceiling (about 24.8 days). */
export const MAX_MILLISECONDS = 2 ** 31 - 1;
/** Longer names would only bloat every key and every notification. */
export const MAX_NAME_LENGTH = 1024;
export const MAX_PREFIX_LENGTH = 256;

/** Options after validation, with defaults filled in. */
export interface LockSettings {
  readonly name: string;
  readonly prefix: string;
  readonly redis: RedisSource;
  /** > 0: a fixed hold; 0: a renewed lease. */
  readonly ttl: number;
  readonly lease: number;
  /** -1: forever. */
  readonly timeout: number;
  readonly signal: AbortSignal | undefined;
  readonly mode: HoldMode;
  /** The kind of hold taken (the lock in `mode`): its scripts, through the seam in redis/hold-kind.ts. */
  readonly kind: HoldKind;
  readonly redisTimeout: number;
  readonly replicas: number;
  readonly replicaTimeout: number;
  readonly fair: boolean;
  readonly handoffGrace: number;
  readonly label: string;
  readonly keyspaceEvents: KeyspaceEvents;
}

export const LOCK_OPTION_NAMES = [
  'redis',
  'prefix',
  'ttl',
  'lease',
  'timeout',
  'signal',
  'mode',
  'redisTimeout',
  'replicas',
  'replicaTimeout',
  'fair',
  'handoffGrace',
  'label',
  'keyspaceEvents',
] as const;

/** Validates everything before any Redis I/O, throwing TypeError or RangeError. */
export function resolveLockOptions(name: unknown, options: unknown, what = 'lock$ options'): LockSettings {
  const opts = checkOptionsObject(options, LOCK_OPTION_NAMES, what);
  return {
    name: checkName(name),
    prefix: checkPrefix(opts.prefix),
    redis: checkRedisSource(opts.redis),
    ttl: checkTtl(opts.ttl),
    lease: checkLease(opts.lease),
    timeout: checkTimeout(opts.timeout),
    signal: checkSignal(opts.signal),
    redisTimeout: checkRedisTimeout(opts.redisTimeout),
    ...checkReplication(opts.replicas, opts.replicaTimeout),
    ...modeAndLine(opts.mode, opts.fair, opts.handoffGrace, opts.label),
    keyspaceEvents: checkKeyspaceEvents(opts.keyspaceEvents),
  };
}

/** The mode, the line and the kind of hold they make. */
export function modeAndLine(
  mode: unknown,
  fair: unknown,
  handoffGrace: unknown,
  label: unknown,
): { mode: HoldMode; fair: boolean; handoffGrace: number; label: string; kind: HoldKind } {
  const line = checkLine(fair, handoffGrace, label);
  const checked = checkMode(mode);
  return { mode: checked, ...line, kind: lockKind(checked, line) };
}

/** At most this many characters of label are kept beside a hold. */
export const MAX_LABEL_LENGTH = 256;

export function checkLine(fair: unknown, handoffGrace: unknown, label: unknown): { fair: boolean; handoffGrace: number; label: string } {
  if (label !== undefined && typeof label !== 'string') throw new TypeError(`label must be a string, got ${describe(label)}`);
  if (label !== undefined && label.length > MAX_LABEL_LENGTH) {
    throw new RangeError(`label must be at most ${MAX_LABEL_LENGTH} characters, got ${label.length}`);
  }
  if (fair !== undefined && typeof fair !== 'boolean') throw new TypeError(`fair must be a boolean, got ${describe(fair)}`);
  let grace = DEFAULT_HANDOFF_GRACE;
  if (handoffGrace !== undefined) {
    grace = checkInteger(handoffGrace, 'handoffGrace');
    if (grace < 1) throw new RangeError(`handoffGrace must be at least 1 ms, got ${grace}`);
    checkAtMost(grace, 'handoffGrace');
  }
  return { fair: fair === true, handoffGrace: grace, label: label ?? DEFAULT_LABEL };
}

export function checkOptionsObject<K extends string>(
  options: unknown,
  allowed: readonly K[],
  what: string,
): Partial<Record<K, unknown>> {
  if (options === undefined) return {};
  if (options === null || typeof options !== 'object' || Array.isArray(options)) {
    throw new TypeError(`${what} must be an object, got ${describe(options)}`);
  }
  for (const key of Object.keys(options)) {
    if (!(allowed as readonly string[]).includes(key)) {
      const hint = closest(key, allowed);
      throw new TypeError(
        `unknown option '${key}' in ${what}${hint ? ` (did you mean '${hint}'?)` : ''}; known: ${allowed.join(', ')}`,
      );
    }
  }
  return options;
}

/** A name of a hold: 1 to MAX_NAME_LENGTH characters. `what` names it in messages ('semaphore name', ...). */
export function checkName(name: unknown, what = 'lock name'): string {
  return checkKeyPart(name, what, MAX_NAME_LENGTH, false);
}

export function checkPrefix(prefix: unknown): string {
  return prefix === undefined ? '' : checkKeyPart(prefix, 'prefix', MAX_PREFIX_LENGTH, true);
}

function checkKeyPart(value: unknown, what: string, max: number, emptyAllowed: boolean): string {
  if (typeof value !== 'string') throw new TypeError(`${what} must be a string, got ${describe(value)}`);
  if (value.length === 0 && !emptyAllowed) throw new RangeError(`${what} must not be empty`);
  if (value.length > max) throw new RangeError(`${what} is ${value.length} characters long; the maximum is ${max}`);
  return value;
}

export function checkRedisSource(redis: unknown): RedisSource {
  if (redis === undefined) return DEFAULT_REDIS_URL;
  if (typeof redis === 'string') {
    if (!/^rediss?:\/\//.test(redis)) {
      throw new TypeError(`redis must be an ioredis client or a redis:// or rediss:// URL, got '${redis}'`);
    }
    return redis;
  }
  if (typeof redis === 'object' && redis !== null && !Array.isArray(redis)) {
    const candidate = redis as Record<string, unknown>;
    if (typeof candidate.evalsha === 'function' && typeof candidate.duplicate === 'function') return redis;
    if (Array.isArray(candidate.cluster) && candidate.cluster.length > 0) return redis;
    if (['host', 'port', 'path', 'sentinels'].some((k) => k in candidate)) return redis;
  }
  throw new TypeError(
    `redis must be an ioredis client or Cluster, a redis:// or rediss:// URL, ioredis options with host/port/path/sentinels, or { cluster: [seed nodes] }, got ${describe(redis)}`,
  );
}

/** PyYADL's ttl: > 0 fixed, <= 0 until release (renewed lease); stored as 0 for the latter. */
export function checkTtl(ttl: unknown): number {
  if (ttl === undefined) return 0;
  const value = checkInteger(ttl, 'ttl');
  if (value <= 0) return 0;
  return checkAtMost(value, 'ttl');
}

export function checkLease(lease: unknown): number {
  if (lease === undefined) return DEFAULT_LEASE;
  const value = checkInteger(lease, 'lease');
  if (value < MIN_LEASE) throw new RangeError(`lease must be at least ${MIN_LEASE} ms, got ${value}`);
  return checkAtMost(value, 'lease');
}

/** -1 (or absent) waits forever; 0 is one attempt. */
export function checkTimeout(timeout: unknown): number {
  if (timeout === undefined) return -1;
  const value = checkInteger(timeout, 'timeout');
  if (value < -1) throw new RangeError(`timeout must be -1 (wait forever) or >= 0 ms, got ${value}`);
  return value === -1 ? -1 : checkAtMost(value, 'timeout');
}

export function checkRedisTimeout(redisTimeout: unknown): number {
  if (redisTimeout === undefined) return DEFAULT_REDIS_TIMEOUT;
  const value = checkInteger(redisTimeout, 'redisTimeout');
  if (value < 1) throw new RangeError(`redisTimeout must be at least 1 ms, got ${value}`);
  return checkAtMost(value, 'redisTimeout');
}

export function checkReplication(replicas: unknown, replicaTimeout: unknown): { replicas: number; replicaTimeout: number } {
  const count = replicas === undefined ? 0 : checkInteger(replicas, 'replicas');
  if (count < 0) throw new RangeError(`replicas must be >= 0, got ${count}`);
  const timeout = replicaTimeout === undefined ? 1000 : checkInteger(replicaTimeout, 'replicaTimeout');
  if (timeout < 1) throw new RangeError(`replicaTimeout must be at least 1 ms, got ${timeout}`);
  return { replicas: count, replicaTimeout: checkAtMost(timeout, 'replicaTimeout') };
}

export function checkSignal(signal: unknown): AbortSignal | undefined {
  if (signal === undefined || signal instanceof AbortSignal) return signal;
  throw new TypeError(`signal must be an AbortSignal, got ${describe(signal)}`);
}

export function checkKeyspaceEvents(value: unknown): KeyspaceEvents {
  if (value === undefined) return 'configure';
  if ((KEYSPACE_EVENTS as readonly unknown[]).includes(value)) return value as KeyspaceEvents;
  throw new TypeError(`keyspaceEvents must be 'configure', 'assume' or 'off', got ${describe(value)}`);
}

function checkMode(mode: unknown): HoldMode {
  if (mode === undefined || mode === 'exclusive' || mode === 'write') return 'write';
  if (mode === 'read') return 'read';
  throw new TypeError(`mode must be 'exclusive', 'write' or 'read', got ${describe(mode)}`);
}

function checkInteger(value: unknown, what: string): number {
  if (typeof value !== 'number') throw new TypeError(`${what} must be a number of milliseconds, got ${describe(value)}`);
  if (!Number.isFinite(value)) throw new RangeError(`${what} must be a finite number of milliseconds, got ${value}`);
  if (!Number.isInteger(value)) throw new RangeError(`${what} must be a whole number of milliseconds, got ${value}`);
  return value;
}

function checkAtMost(value: number, what: string): number {
  if (value > MAX_MILLISECONDS) throw new RangeError(`${what} must be at most ${MAX_MILLISECONDS} ms, got ${value}`);
  return value;
}

export function describe(value: unknown): string {
  if (typeof value === 'string') return `the string '${value.length > 40 ? `${value.slice(0, 40)}…` : value}'`;
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'an array';
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${typeof value} ${String(value)}`;
  return typeof value;
}

function closest(key: string, candidates: readonly string[]): string | undefined {
  let best: string | undefined;
  let bestDistance = 3;
  for (const candidate of candidates) {
    const d = editDistance(key.toLowerCase(), candidate.toLowerCase());
    if (d < bestDistance) {
      best = candidate;
      bestDistance = d;
    }
  }
  return best;
}

/** Levenshtein distance, for the 'did you mean' of unknown options (here and in the CLI). */
export function editDistance(a: string, b: string): number {
  let previous = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    const current = [i];
    for (let j = 1; j <= b.length; j++) {
      current[j] = Math.min(
        (previous[j] ?? 0) + 1,
        (current[j - 1] ?? 0) + 1,
        (previous[j - 1] ?? 0) + (a[i - 1] === b[j - 1] ? 0 : 1),
      );
    }
    previous = current;
  }
  return previous[b.length] ?? 0;
}
