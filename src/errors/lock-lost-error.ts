import { LockError } from './lock-error';

/**
 * Why a held lease ended without its owner releasing it.
 * - `expired`: a fixed `ttl` ran out.
 * - `gone`: Redis no longer records this owner (force-released, deleted,
 *   lost in a restart); found by a renewal or a check.
 * - `unconfirmed`: renewals did not get through before the lease ran out, so
 *   the hold must be presumed lost (Redis stalled or unreachable).
 * - `released`: the facade's `withLock` found its hold released by another
 *   call (a `release()` of the same instance) while its function ran.
 */
export type LockLostReason = 'expired' | 'gone' | 'unconfirmed' | 'released';

/** A held lease ended without unsubscribe or `release()`. */
export class LockLostError extends LockError {
  override name = 'LockLostError';

  constructor(
    lock: string,
    readonly reason: LockLostReason,
    options?: ErrorOptions,
  ) {
    super(`lock '${lock}' was lost: ${describe(reason)}`, lock, options);
  }
}

function describe(reason: LockLostReason): string {
  switch (reason) {
    case 'expired':
      return 'its ttl ran out';
    case 'gone':
      return 'Redis no longer records this owner (force-released, deleted or lost by the server)';
    case 'unconfirmed':
      return 'the lease could not be renewed in time';
    case 'released':
      return 'it was released by another call while withLock ran';
  }
}
