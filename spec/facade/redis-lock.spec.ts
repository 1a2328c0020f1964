/**
 * RedisLock: the conformance suite (spec/facade/conformance/). Its
 * non-reentrancy (a second acquire by the holder waits) is the suite's
 * "one hold per instance".
 */
import { conformance, KINDS, localSite, lockFactory } from './conformance';
import { useFacadeFixture } from './facade-fixture';

const fx = useFacadeFixture();

conformance(lockFactory(localSite(fx), KINDS.RedisLock));
