/**
 * What the facade conformance suite runs against: a factory of lock
 * instances, in the manner of async-mutex's `mutexSuite(factory)`. A factory
 * is a class (or a variant of one) on a site (where its instances live: the
 * shared test server, the local Cluster, the Sentinel set). Adding a class or
 * a variant to the suite is one `conformance(lockFactory(site, kind))` call.
 */
import type { Cluster, Redis } from 'ioredis';
import { RedisLock, RedisReadLock, RedisRLock, RedisWriteLock, type RedisLockOptions, type RedisSource } from '../../../src/index';
import type { RedisServerHandle } from '../../support/redis-server';
import type { FacadeFixture } from '../facade-fixture';

/**
 * What the suite uses of an instance. Structural, so that a class that is not
 * a FacadeLock (a semaphore of limit 1, say) can run the suite too.
 */
export type ConformingLock = Pick<
  RedisLock,
  'name' | 'fence' | 'signal' | 'acquire' | 'release' | 'locked' | 'withLock' | typeof Symbol.asyncDispose
>;
export type ConformingClass<L extends ConformingLock = ConformingLock> = new (name: string, options?: RedisLockOptions) => L;

/**
 * 'exclusive': one holder at a time, whatever the class. 'shared': instances
 * of the kind hold together, and exclude the other (writer) kind. One field
 * rather than two flags, so that "both" and "neither" cannot be declared.
 */
export type Sharing = 'exclusive' | 'shared';

/** Where a factory's instances live: one Redis deployment, with a fresh namespace per test. */
export interface Site {
  /** Appended to a factory's label: '' on the shared test server, ' on Cluster', ' through Sentinel'. */
  readonly where: string;
  /**
   * An instance of `Lock` under this test's prefix, on this test's client
   * unless `options` names a server, tracked so that a test that fails
   * half-way leaves no hold behind. `name` defaults to the site's name for
   * this test.
   */
  lock<L extends ConformingLock>(Lock: ConformingClass<L>, options?: RedisLockOptions, name?: string): L;
  /** A client of its own to the deployment (an ioredis Redis or Cluster), closed after the test. */
  client(): Redis | Cluster;
  /** A `redis` option from which yadl opens (and later closes) a connection of its own. */
  ownSource(): RedisSource;
  /**
   * A redis-server of the test's own, where nobody else's commands are
   * counted; absent where the site has none to offer.
   */
  readonly privateServer?: () => Promise<RedisServerHandle>;
}

/** A class under test and what it is declared to do; the suite checks each declaration. */
export interface LockKind {
  readonly Lock: ConformingClass;
  /**
   * Another class of the same resource that excludes `Lock`'s instances: for
   * an exclusive kind another exclusive class, for a shared kind a writer
   * (whose force release frees the name from every holder).
   */
  readonly Other: ConformingClass;
  readonly sharing: Sharing;
  /** Whether a holding instance re-enters (n acquires, n releases) instead of waiting for its own release. */
  readonly reentrant: boolean;
  /** A variant's options, added to every instance the factory makes (e.g. `{ fair: true }`). */
  readonly options?: RedisLockOptions;
  /** Names the variant in the label, e.g. '{ fair: true }'. */
  readonly variant?: string;
}

/** The classes of the promise facade. A variant spreads one and adds `options` and `variant`. */
export const KINDS = {
  RedisLock: { Lock: RedisLock, Other: RedisRLock, sharing: 'exclusive', reentrant: false },
  RedisRLock: { Lock: RedisRLock, Other: RedisLock, sharing: 'exclusive', reentrant: true },
  RedisWriteLock: { Lock: RedisWriteLock, Other: RedisLock, sharing: 'exclusive', reentrant: false },
  RedisReadLock: { Lock: RedisReadLock, Other: RedisWriteLock, sharing: 'shared', reentrant: false },
} as const satisfies Record<string, LockKind>;

/** What the suite takes. */
export interface LockFactory {
  /** Names the suite's describe block, e.g. 'RedisReadLock on Cluster'. */
  readonly label: string;
  /** The class of `makeOther`'s instances, for test names. */
  readonly otherLabel: string;
  readonly sharing: Sharing;
  readonly reentrant: boolean;
  readonly site: Site;
  /**
   * A new instance under test. Options first: nearly every call leaves the
   * name alone. The variant's options come first, then these.
   */
  make(options?: RedisLockOptions, name?: string): ConformingLock;
  /** A new instance of the other class (see LockKind.Other), with the variant's options too. */
  makeOther(options?: RedisLockOptions, name?: string): ConformingLock;
}

export function lockFactory(site: Site, kind: LockKind): LockFactory {
  const { Lock, Other, sharing, reentrant, options: variant = {} } = kind;
  const named = kind.variant === undefined ? Lock.name : `${Lock.name} ${kind.variant}`;
  return {
    label: `${named}${site.where}`,
    otherLabel: Other.name,
    sharing,
    reentrant,
    site,
    make: (options, name) => site.lock(Lock, { ...variant, ...options }, name),
    makeOther: (options, name) => site.lock(Other, { ...variant, ...options }, name),
  };
}

/**
 * An instance that keeps the factory's instances out, and whose force
 * release evicts them: another instance of an exclusive kind, a writer for a
 * shared one.
 */
export function rival(f: LockFactory, options?: RedisLockOptions): ConformingLock {
  return f.sharing === 'exclusive' ? f.make(options) : f.makeOther(options);
}

/** The shared test server, through the facade fixture of the spec file. */
export function localSite(fx: FacadeFixture): Site {
  return {
    where: '',
    lock: (Lock, options, name) => fx.lock(Lock, options, name),
    client: () => fx.redis.client(),
    ownSource: () => fx.redis.url,
    privateServer: () => fx.privateServer(),
  };
}
