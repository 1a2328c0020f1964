/**
 * The conformance suite of the promise facade, in the manner of async-mutex's
 * `mutexSuite(factory)`: the behaviour every lock class shares, written once
 * and run against a factory of instances (factory.ts), for every class
 * (spec/facade/redis-*.spec.ts) and on the local Cluster and Sentinel
 * topologies (spec/topology/*-conformance.spec.ts).
 *
 * The cases follow CPython's Lib/test/lock_tests.py (BaseLockTests,
 * LockTests, RLockTests), translated to distributed locks: "threads" are lock
 * instances, and ownership belongs to the instance. They are split by
 * behaviour, and each part registers what applies to the factory's kind:
 *
 * - holding.ts: acquire/release, fences, withLock, `await using`, lost holds;
 * - exclusion.ts: exclusion across instances and classes; blocking: false,
 *   timeout and signal;
 * - sharing.ts: an exclusive kind's waiters go in one at a time, a shared
 *   kind's together;
 * - ownership.ts: who may release, force, one hold per instance (not reentrant);
 * - reentrancy.ts: n acquires, n releases (reentrant kinds only).
 */
import { describe } from 'vitest';
import { exclusion } from './exclusion';
import type { LockFactory } from './factory';
import { holding } from './holding';
import { ownership } from './ownership';
import { reentrancy } from './reentrancy';
import { sharing } from './sharing';

export { KINDS, localSite, lockFactory, type LockFactory, type LockKind, type Site } from './factory';

const PARTS = { holding, exclusion, sharing, ownership, reentrancy } as const;
export type Part = keyof typeof PARTS;
export const ALL_PARTS = Object.keys(PARTS) as Part[];

/** Registers the parts (all by default) that apply to `factory`'s kind. */
export function conformance(factory: LockFactory, parts: readonly Part[] = ALL_PARTS): void {
  describe(`${factory.label} conformance`, () => {
    for (const part of parts) {
      if (part === 'reentrancy' && !factory.reentrant) continue;
      PARTS[part](factory);
    }
  });
}
