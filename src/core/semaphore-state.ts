import { SemaphoreTarget, type SemaphoreState } from '../redis/kinds/semaphore-kind';
import type { HoldTarget } from '../redis/hold-kind';
import { withTarget, type HoldAddress } from './lock-state';

/** The semaphore kind's own operations, beyond the seam's: its target, checked. */
function semaphoreTarget(target: HoldTarget): SemaphoreTarget {
  if (!(target instanceof SemaphoreTarget)) throw new TypeError('not a semaphore');
  return target;
}

/** The semaphore's limit and holders; `token`'s grant too ('' for none). */
export function semaphoreState(address: HoldAddress, token = ''): Promise<SemaphoreState> {
  return withTarget(address, (target) => semaphoreTarget(target).state(token));
}

/** Stores `limit` for everyone; the limit stored before (0: none). */
export function setSemaphoreLimit(address: HoldAddress, limit: number): Promise<number> {
  return withTarget(address, (target) => semaphoreTarget(target).setLimit(limit));
}

/**
 * Gives back `permits` of `token`'s grant, which keeps the rest (its fence
 * and lease unchanged): what it keeps, 0 when the grant is gone.
 */
export function shrinkGrant(address: HoldAddress, token: string, permits: number): Promise<number> {
  return withTarget(address, (target) => semaphoreTarget(target).shrink(token, permits, ''));
}
