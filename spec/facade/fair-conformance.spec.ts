/**
 * Fair mode passes the same conformance suite (spec/facade/conformance/) as
 * the default mode: `{ fair: true }` on every instance the factory makes, for
 * the exclusive lock, the reentrant lock and the shared read lock (a write
 * lock is the exclusive lock's code). What fairness adds (FIFO across
 * processes, grants, dead waiters) is in spec/core/fair.spec.ts.
 */
import { conformance, KINDS, localSite, lockFactory } from './conformance';
import { useFacadeFixture } from './facade-fixture';

const fx = useFacadeFixture();
const fair = { options: { fair: true }, variant: '{ fair: true }' } as const;

conformance(lockFactory(localSite(fx), { ...KINDS.RedisLock, ...fair }));
conformance(lockFactory(localSite(fx), { ...KINDS.RedisRLock, ...fair }));
conformance(lockFactory(localSite(fx), { ...KINDS.RedisReadLock, ...fair }));
