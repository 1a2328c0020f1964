/**
 * The base of every error yadl raises about a lock: the `RuntimeError` of
 * PyYADL. `lock` names the lock it concerns.
 */
export class LockError extends Error {
  override name = 'LockError';

  constructor(
    message: string,
    readonly lock?: string,
    options?: ErrorOptions,
  ) {
    super(message, options);
  }
}
