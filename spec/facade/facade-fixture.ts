/**
 * Shared set-up of the facade specs: the shared test Redis (`useRedis()`),
 * a fresh prefix per test, lock instances that are tracked so that a failing
 * test cannot leave a hold behind, private servers that are stopped after
 * the test, and the quiescence check (`activeTimers()` before each test,
 * `expectQuiescent()` after it).
 */
import type { Redis } from 'ioredis';
import { afterEach, beforeEach, expect } from 'vitest';
import { RedisLock, RedisReadLock, RedisRLock, RedisWriteLock, type RedisLockOptions } from '../../src/index';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { startRedisServer, type RedisServerHandle, type StartRedisServerOptions } from '../support/redis-server';

export type FacadeLock = RedisLock | RedisRLock | RedisWriteLock | RedisReadLock;
export type FacadeLockClass = new (name: string, options?: RedisLockOptions) => FacadeLock;
/** What the fixture needs of an instance to free it after a failed test: a facade lock, or anything shaped like one. */
type TrackedLock = Pick<FacadeLock, 'name' | 'fence' | 'release'>;

export interface FacadeFixture {
  readonly redis: ReturnType<typeof useRedis>;
  /** This test's prefix on the shared server (a new one per test). */
  prefix(): string;
  /**
   * An instance of `Lock` named `name`, under this test's prefix, on this
   * test's ioredis client to the shared server, unless `options` says
   * otherwise. (A client rather than the URL: a connection yadl opens from a
   * URL lingers 1 s after use, which every test would wait for.)
   */
  lock<L extends TrackedLock>(Lock: new (name: string, options?: RedisLockOptions) => L, options?: RedisLockOptions, name?: string): L;
  /** A redis-server of this test's own; stopped after the test, once yadl has let go of it. */
  privateServer(options?: StartRedisServerOptions): Promise<RedisServerHandle>;
}

export function useFacadeFixture(): FacadeFixture {
  // Registered first, so its afterEach (closing the test's clients) runs after ours.
  const redis = useRedis();
  let timers = 0;
  let prefix = '';
  let client: Redis | undefined;
  let locks: TrackedLock[] = [];
  let servers: RedisServerHandle[] = [];

  beforeEach(() => {
    timers = activeTimers();
    prefix = redis.prefix();
    client = undefined;
    locks = [];
    servers = [];
  });

  afterEach(async () => {
    // A test that failed half-way may still hold: free it, then say so.
    const holding = locks.filter((lock) => lock.fence !== undefined);
    await Promise.all(holding.map((lock) => lock.release({ force: true }).catch(() => undefined)));
    try {
      await expectQuiescent(timers);
    } finally {
      await Promise.all(servers.map((server) => server.stop()));
    }
    expect(holding.map((lock) => lock.name), 'instances still holding at the end of the test').toEqual([]);
  });

  return {
    redis,
    prefix: () => prefix,
    lock: (Lock, options, name = 'resource') => {
      const server = ['redis', 'host', 'port', 'password', 'db'].some((key) => options?.[key as keyof RedisLockOptions] !== undefined);
      if (!server) client ??= redis.client();
      const lock = new Lock(name, { prefix, ...(server ? {} : { redis: client }), ...options });
      locks.push(lock);
      return lock;
    },
    privateServer: async (options) => {
      const server = await startRedisServer(options);
      servers.push(server);
      return server;
    },
  };
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** `INFO commandstats` as { command: calls }. */
export async function commandCalls(client: Redis): Promise<Record<string, number>> {
  const info = await client.info('commandstats');
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) {
    calls[match[1] as string] = Number(match[2]);
  }
  return calls;
}

/** The commands counted in `after` but not in `before`, leaving out `ignore` (the observer's own). */
export function newCalls(
  before: Record<string, number>,
  after: Record<string, number>,
  ignore: readonly string[] = ['info'],
): Record<string, number> {
  const added: Record<string, number> = {};
  for (const [command, calls] of Object.entries(after)) {
    const delta = calls - (before[command] ?? 0);
    if (delta > 0 && !ignore.includes(command)) added[command] = delta;
  }
  return added;
}

/** Resolves with `signal.reason` once it aborts; rejects when that takes longer than `withinMs`. */
export function aborted(signal: AbortSignal, withinMs: number): Promise<unknown> {
  if (signal.aborted) return Promise.resolve(signal.reason);
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      signal.removeEventListener('abort', onAbort);
      reject(new Error(`signal did not abort within ${withinMs} ms`));
    }, withinMs);
    const onAbort = (): void => {
      clearTimeout(timer);
      resolve(signal.reason);
    };
    signal.addEventListener('abort', onAbort, { once: true });
  });
}

/** Resolves true as soon as `promise` settles, or false once `ms` have passed without it settling. */
export function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  return new Promise((resolve) => {
    const timer = setTimeout(() => resolve(false), ms);
    const settle = (): void => {
      clearTimeout(timer);
      resolve(true);
    };
    promise.then(settle, settle);
  });
}

export { RedisLock, RedisRLock };
