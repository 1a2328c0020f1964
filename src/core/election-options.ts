import { DEFAULT_LABEL } from '../redis/kinds/lock-kind';
import {
  checkKeyspaceEvents,
  checkLease,
  checkLine,
  checkName,
  checkOptionsObject,
  checkPrefix,
  checkRedisSource,
  checkRedisTimeout,
  checkReplication,
  checkSignal,
  checkTimeout,
  describe,
  LOCK_OPTION_NAMES,
  type KeyspaceEvents,
  type LockSettings,
  type RedisSource,
} from './options';

export interface ElectOptions {
  /** Where the election lives, as for `lock$`. */
  redis?: RedisSource;
  /** Namespace of the election's keys. */
  prefix?: string;
  /**
   * What this candidate tells everyone while it leads (`leader$`, `leader()`):
   * an address, an id; at most 4096 characters. Default `<hostname>:<pid>`.
   */
  value?: string;
  /** Ms of a term's lease, renewed every `lease / 3`: a dead leader is replaced within it. Default 30000. */
  lease?: number;
  /** Ms to wait for the first term: absent or -1 forever, 0 one attempt; then LockTimeoutError. */
  timeout?: number;
  /** Aborting it ends the candidacy (resigning a term) and errors with `signal.reason`. */
  signal?: AbortSignal;
  /** Ms to wait for Redis to answer before RedisUnavailableError. Default 10000. */
  redisTimeout?: number;
  /** Replicas that must acknowledge each new term (Redis WAIT). Default 0. */
  replicas?: number;
  /** Ms to wait for them; then ReplicationError. Default 1000. */
  replicaTimeout?: number;
  /**
   * Ms the other candidates have to start the next term after this one
   * resigns, before it may campaign again itself. Default 2000.
   */
  handoffGrace?: number;
  /** As for `lock$`: whether yadl runs CONFIG to turn expiry notifications on. */
  keyspaceEvents?: KeyspaceEvents;
}

/** What `leader$` and `RedisElection#leader` need. */
export interface LeaderOptions {
  redis?: RedisSource;
  prefix?: string;
  /** Ms to wait for Redis to answer before RedisUnavailableError. Default 10000. */
  redisTimeout?: number;
  /** As for `lock$`. */
  keyspaceEvents?: KeyspaceEvents;
}

export const MAX_VALUE_LENGTH = 4096;

/** lock$'s options that have no meaning for a candidacy: terms are renewed leases, exclusive, in no fair line, labelled by their value. */
export const NOT_FOR_ELECTIONS: ReadonlySet<string> = new Set(['ttl', 'mode', 'fair', 'label']);

/** A candidacy's settings: `lock$`'s for each term, and the candidate's first value. */
export interface ElectSettings {
  readonly lock: Omit<LockSettings, 'kind'>;
  readonly value: string;
}

/** lock$'s options an election takes (not ttl, mode, fair or label: see README, "Leader election"), and its value. */
const ELECT_OPTION_NAMES = [...LOCK_OPTION_NAMES.filter((option) => !NOT_FOR_ELECTIONS.has(option)), 'value'] as const;

const LEADER_OPTION_NAMES = ['redis', 'prefix', 'redisTimeout', 'keyspaceEvents'] as const;

/** Validates everything before any Redis I/O, throwing TypeError or RangeError. */
export function resolveElectOptions(name: unknown, options: unknown, what = 'elect$ options'): ElectSettings {
  const opts = checkOptionsObject(options, ELECT_OPTION_NAMES, what);
  const line = checkLine(undefined, opts.handoffGrace, undefined);
  return {
    lock: {
      name: checkName(name, 'election name'),
      prefix: checkPrefix(opts.prefix),
      redis: checkRedisSource(opts.redis),
      ttl: 0,
      lease: checkLease(opts.lease),
      timeout: checkTimeout(opts.timeout),
      signal: checkSignal(opts.signal),
      mode: 'write',
      redisTimeout: checkRedisTimeout(opts.redisTimeout),
      ...checkReplication(opts.replicas, opts.replicaTimeout),
      ...line,
      keyspaceEvents: checkKeyspaceEvents(opts.keyspaceEvents),
    },
    value: opts.value === undefined ? DEFAULT_LABEL : checkValue(opts.value),
  };
}

export interface LeaderSettings {
  readonly name: string;
  readonly prefix: string;
  readonly redis: RedisSource;
  readonly redisTimeout: number;
  readonly keyspaceEvents: KeyspaceEvents;
}

export function resolveLeaderOptions(name: unknown, options: unknown, what = 'leader$ options'): LeaderSettings {
  const opts = checkOptionsObject(options, LEADER_OPTION_NAMES, what);
  return {
    name: checkName(name, 'election name'),
    prefix: checkPrefix(opts.prefix),
    redis: checkRedisSource(opts.redis),
    redisTimeout: checkRedisTimeout(opts.redisTimeout),
    keyspaceEvents: checkKeyspaceEvents(opts.keyspaceEvents),
  };
}

/** A leader's value: a string of at most MAX_VALUE_LENGTH characters. */
export function checkValue(value: unknown): string {
  if (typeof value !== 'string') throw new TypeError(`value must be a string, got ${describe(value)}`);
  if (value.length > MAX_VALUE_LENGTH) {
    throw new RangeError(`value must be at most ${MAX_VALUE_LENGTH} characters, got ${value.length}`);
  }
  return value;
}
