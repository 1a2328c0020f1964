import { LockError } from './lock-error';

/**
 * `release()` by an owner that does not hold the lock: the lock is free
 * ('release unlocked lock') or another owner holds it ('cannot release
 * un-acquired lock'), as CPython's `threading.Lock` and PyYADL report it.
 */
export class NotOwnerError extends LockError {
  override name = 'NotOwnerError';

  constructor(
    lock: string,
    /** Whether another owner held the lock when release was asked. */
    readonly heldByOther: boolean,
  ) {
    super(heldByOther ? `cannot release un-acquired lock '${lock}'` : `release unlocked lock '${lock}'`, lock);
  }
}
