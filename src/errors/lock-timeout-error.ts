import { LockError } from './lock-error';

/** The `timeout` passed before the lock could be acquired. */
export class LockTimeoutError extends LockError {
  override name = 'LockTimeoutError';

  constructor(
    lock: string,
    /** The timeout that passed, in milliseconds (0: a single attempt). */
    readonly timeout: number,
  ) {
    super(
      timeout === 0 ? `lock '${lock}' is held by another owner` : `lock '${lock}' not acquired within ${timeout} ms`,
      lock,
    );
  }
}
