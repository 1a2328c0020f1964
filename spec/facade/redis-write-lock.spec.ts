/**
 * RedisWriteLock behaves exactly like RedisLock: the same conformance suite,
 * against RedisLock as the other class of the same name.
 */
import { conformance, KINDS, localSite, lockFactory } from './conformance';
import { useFacadeFixture } from './facade-fixture';

const fx = useFacadeFixture();

conformance(lockFactory(localSite(fx), KINDS.RedisWriteLock));
