/**
 * RedisWriteLock behaves exactly like RedisLock: the same conformance suite,
 * against RedisLock as the other class of the same name.
 */
import { RedisLock, RedisWriteLock } from '../../src/index';
import { useFacadeFixture } from './facade-fixture';
import { lockConformance } from './lock-conformance';

const fx = useFacadeFixture();

lockConformance(fx, { Lock: RedisWriteLock, Other: RedisLock });
