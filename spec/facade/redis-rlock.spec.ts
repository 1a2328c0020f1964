/**
 * RedisRLock: the conformance suite (spec/facade/conformance/), whose
 * reentrancy part holds what only a reentrant lock does (CPython
 * lock_tests.RLockTests: n acquires need n releases), per instance.
 */
import { conformance, KINDS, localSite, lockFactory } from './conformance';
import { useFacadeFixture } from './facade-fixture';

const fx = useFacadeFixture();

conformance(lockFactory(localSite(fx), KINDS.RedisRLock));
