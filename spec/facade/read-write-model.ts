/**
 * Helpers of the read/write lock specs: the lock's state as Redis holds it
 * (read with the server's clock), held intervals and their overlaps, the
 * fast-check parameters (FC_SEED, FC_PATH, FC_NUM_RUNS), and the in-memory
 * model that read-write.model.spec.ts runs in lockstep with Redis.
 */
import type { Redis } from 'ioredis';
import type { Subscription } from 'rxjs';
import { afterEach, beforeEach, expect } from 'vitest';
import { RedisLock, RedisReadLock, RedisRLock, RedisWriteLock, type RedisLockOptions } from '../../src/index';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';

export const LOCK_CLASSES = { RedisReadLock, RedisWriteLock, RedisLock, RedisRLock } as const;
export type LockKind = keyof typeof LOCK_CLASSES;
export type AnyLock = RedisReadLock | RedisWriteLock | RedisLock | RedisRLock;
export const LOCK_KINDS = Object.keys(LOCK_CLASSES) as LockKind[];
export type LockClass = new (name: string, options?: RedisLockOptions) => AnyLock;
/** The exclusive kinds: they all take the name as its one writer. */
export const WRITER_CLASSES: readonly LockClass[] = [RedisWriteLock, RedisLock, RedisRLock];

export function makeLock(kind: LockKind, name: string, options: RedisLockOptions): AnyLock {
  return new LOCK_CLASSES[kind](name, options);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether `promise` has settled within `ms`. */
export async function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let settled = false;
  void promise.then(
    () => (settled = true),
    () => (settled = true),
  );
  await sleep(ms);
  return settled;
}

/** 'resolved', or the rejection's reason. */
export const rejection = (promise: Promise<unknown>): Promise<unknown> =>
  promise.then(
    () => 'resolved',
    (error: unknown) => error,
  );

export interface RwFixture {
  readonly redis: ReturnType<typeof useRedis>;
  /** This test's prefix (a new one per test). */
  prefix(): string;
  /** This test's ioredis client (a client, not a URL: URL connections linger 1 s). */
  client(): Redis;
  /** An instance under this test's prefix on this test's client; released after the test if it still holds. */
  lock<L extends AnyLock>(Lock: new (name: string, options?: RedisLockOptions) => L, options?: RedisLockOptions, name?: string): L;
  /** A lock$ subscription to unsubscribe after the test. */
  track(subscription: Subscription): Subscription;
  /** The live state in Redis of `name` under this test's prefix. */
  state(name?: string): Promise<LiveState>;
}

/** Per test: a prefix, a client, tracked instances and subscriptions, and the quiescence check. */
export function useRwFixture(): RwFixture {
  const redis = useRedis();
  let timers = 0;
  let prefix = '';
  let client: Redis | undefined;
  let admin: Redis | undefined;
  let locks: AnyLock[] = [];
  let subscriptions: Subscription[] = [];
  beforeEach(() => {
    timers = activeTimers();
    prefix = redis.prefix();
    client = admin = undefined;
    locks = [];
    subscriptions = [];
  });
  afterEach(async () => {
    const holding = locks.filter((lock) => lock.fence !== undefined);
    await Promise.all(holding.map((lock) => lock[Symbol.asyncDispose]().catch(() => undefined)));
    for (const subscription of subscriptions) subscription.unsubscribe();
    await expectQuiescent(timers);
    expect(holding.map((lock) => lock.constructor.name), 'instances still holding at the end of the test').toEqual([]);
  });
  const theClient = (): Redis => (client ??= redis.client());
  return {
    redis,
    prefix: () => prefix,
    client: theClient,
    lock: (Lock, options, name = 'resource') => {
      const lock = new Lock(name, { prefix, redis: theClient(), ...options });
      locks.push(lock);
      return lock;
    },
    track: (subscription) => {
      subscriptions.push(subscription);
      return subscription;
    },
    state: (name = 'resource') => readLiveState((admin ??= redis.client()), prefix, name),
  };
}

/** The state hash of a lock (prefixes and names of these specs need no escaping). */
export function stateKey(prefix: string, name: string): string {
  return `${prefix}:lock:{${name}}`;
}

export interface HolderField {
  readonly token: string;
  readonly fence: number;
  readonly expiresAt: number;
}

/** The live holders in Redis, judged by the server's clock, read atomically with it. */
export interface LiveState {
  readonly exists: boolean;
  readonly writer: HolderField | undefined;
  readonly readers: readonly HolderField[];
  /** Tokens of writers whose mark holds new readers back (q:<token>), live ones. */
  readonly marks: readonly string[];
  readonly raw: Record<string, string>;
}

export async function readLiveState(client: Redis, prefix: string, name: string): Promise<LiveState> {
  const replies = await client.multi().time().hgetall(stateKey(prefix, name)).exec();
  const [time, hash] = (replies ?? []).map(([error, value]) => {
    if (error) throw error;
    return value;
  }) as [[string, string], Record<string, string>];
  const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  const readers: HolderField[] = [];
  const marks: string[] = [];
  for (const [field, value] of Object.entries(hash)) {
    const expiresAt = Number(value.split(':')[0]);
    if (field.startsWith('r:') && expiresAt > nowMs) {
      readers.push({ token: field.slice(2), fence: Number(value.split(':')[1]), expiresAt });
    } else if (field.startsWith('q:') && expiresAt > nowMs) {
      marks.push(field.slice(2));
    }
  }
  const wx = Number(hash.wx);
  const writer =
    hash.w !== undefined && wx > nowMs ? { token: hash.w, fence: Number(hash.wf), expiresAt: wx } : undefined;
  return { exists: Object.keys(hash).length > 0, writer, readers, marks, raw: hash };
}

/** Polls until the state hash is gone; resolves with what was last seen. */
export async function stateGone(client: Redis, prefix: string, name: string, withinMs = 1_000): Promise<Record<string, string>> {
  const until = performance.now() + withinMs;
  for (;;) {
    const raw = await client.hgetall(stateKey(prefix, name));
    if (Object.keys(raw).length === 0 || performance.now() > until) return raw;
    await sleep(20);
  }
}

/** A hold as its holder saw it: from when the lease arrived to when it started releasing. */
export interface Interval {
  readonly who: string;
  readonly mode: 'read' | 'write';
  readonly start: number;
  readonly end: number;
}

const overlap = (a: Interval, b: Interval): boolean => a.start < b.end && b.start < a.end;

/** Pairs where a write interval overlaps any other interval (touching ends are fine). */
export function writeOverlaps(intervals: readonly Interval[]): Array<[Interval, Interval]> {
  const found: Array<[Interval, Interval]> = [];
  intervals.forEach((a, i) => {
    for (const b of intervals.slice(i + 1)) {
      if ((a.mode === 'write' || b.mode === 'write') && overlap(a, b)) found.push([a, b]);
    }
  });
  return found;
}

/** How many pairs of read intervals of different holders overlap: shared access happened. */
export function readOverlaps(intervals: readonly Interval[]): number {
  const reads = intervals.filter((i) => i.mode === 'read');
  let count = 0;
  reads.forEach((a, i) => {
    for (const b of reads.slice(i + 1)) if (a.who !== b.who && overlap(a, b)) count += 1;
  });
  return count;
}

/** fast-check parameters: numRuns by default, FC_NUM_RUNS / FC_SEED / FC_PATH to replay a failure. */
export function fcParameters(numRuns: number): { numRuns: number; seed?: number; path?: string; endOnFailure?: boolean } {
  const { FC_NUM_RUNS, FC_SEED, FC_PATH } = process.env;
  return {
    numRuns: FC_NUM_RUNS ? Number(FC_NUM_RUNS) : numRuns,
    ...(FC_SEED ? { seed: Number(FC_SEED) } : {}),
    ...(FC_PATH ? { path: FC_PATH, endOnFailure: true } : {}),
  };
}

// ---------------------------------------------------------------- the model

export interface InstanceSpec {
  readonly kind: LockKind;
  /** ms; 0 for a ttl-less (renewed) hold. */
  readonly ttl: number;
}

/**
 * What one instance believes it holds. `ghost`: it believes so, but Redis no
 * longer has the hold (another instance's force release took it); the
 * facade only learns at its next renewal or ttl expiry.
 */
export interface ModelHold {
  depth: number;
  ghost: boolean;
  /** performance.now() before the acquire that took it, and when it resolved. */
  readonly from: number;
  readonly to: number;
}

export type Outcome =
  | { readonly settled: 'resolved'; readonly value?: boolean }
  | { readonly settled: 'rejected'; readonly error: string; readonly heldByOther?: boolean };

export class RwModel {
  holds = new Map<number, ModelHold>();

  constructor(readonly specs: readonly InstanceSpec[]) {}

  clone(): RwModel {
    const copy = new RwModel(this.specs);
    for (const [i, hold] of this.holds) copy.holds.set(i, { ...hold });
    return copy;
  }

  writes(i: number): boolean {
    return this.specs[i]?.kind !== 'RedisReadLock';
  }

  /** Instances whose hold Redis has. */
  live(): number[] {
    return [...this.holds].filter(([, hold]) => !hold.ghost).map(([i]) => i);
  }

  held(): boolean {
    return this.live().length > 0;
  }

  acquire(i: number, from: number, to: number): Outcome {
    const own = this.holds.get(i);
    if (this.specs[i]?.kind === 'RedisRLock' && own !== undefined) {
      own.depth += 1; // re-entered locally, even over a ghost
      return { settled: 'resolved', value: true };
    }
    // Any other instance is one owner, like threading.Lock: it waits for its own hold (a ghost too) to be released.
    if (own !== undefined) return { settled: 'resolved', value: false };
    const live = this.live();
    const free = this.writes(i) ? live.length === 0 : live.every((j) => !this.writes(j));
    if (free) this.holds.set(i, { depth: 1, ghost: false, from, to });
    return { settled: 'resolved', value: free };
  }

  release(i: number, force: boolean): Outcome {
    if (force && this.writes(i)) {
      this.holds.delete(i);
      for (const hold of this.holds.values()) hold.ghost = true;
      return { settled: 'resolved' };
    }
    const own = this.holds.get(i);
    if (own !== undefined && own.depth > 1) {
      own.depth -= 1;
      return { settled: 'resolved' };
    }
    this.holds.delete(i);
    if (own === undefined || own.ghost) return { settled: 'rejected', error: 'NotOwnerError', heldByOther: this.held() };
    return { settled: 'resolved' };
  }

  /** The ttl'd holds (ghosts too) that may have ended by `ms` (performance.now()). */
  mayEndBy(ms: number): number[] {
    return [...this.holds]
      .filter(([i, hold]) => {
        const window = this.expiryWindow(i, hold);
        return window !== undefined && window[0] <= ms;
      })
      .map(([i]) => i);
  }

  /**
   * When a ttl'd hold ends: from a little before the ttl counted from the
   * acquire call (the facade declares it over a drift early and releases) to
   * a little after the ttl counted from when acquire resolved (Redis' expiry).
   */
  expiryWindow(i: number, hold: ModelHold): [number, number] | undefined {
    const ttl = this.specs[i]?.ttl ?? 0;
    if (ttl <= 0) return undefined;
    return [hold.from + ttl - Math.ceil(ttl * 0.01) - 10, hold.to + ttl + 25];
  }

  /** All holds drop at once: the latest end of the given holds' windows. */
  endOf(ids: readonly number[]): number {
    return Math.max(0, ...ids.map((i) => this.expiryWindow(i, this.holds.get(i) as ModelHold)?.[1] ?? 0));
  }
}

/** Every sub-world where some of `uncertain` have already ended. */
export function worlds(model: RwModel, uncertain: readonly number[]): RwModel[] {
  const out: RwModel[] = [];
  for (let mask = 0; mask < 1 << uncertain.length; mask++) {
    const world = model.clone();
    uncertain.forEach((i, bit) => {
      if (mask & (1 << bit)) world.holds.delete(i);
    });
    out.push(world);
  }
  return out;
}
