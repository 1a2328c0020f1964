import { LockError } from './lock-error';

/**
 * Redis did not answer within `redisTimeout`: it is unreachable, refusing
 * connections or stalled. Whether a lock was taken is then unknown to the
 * caller; yadl releases it by its owner token if the answer comes late.
 */
export class RedisUnavailableError extends LockError {
  override name = 'RedisUnavailableError';

  constructor(
    lock: string | undefined,
    /** Where yadl tried to reach Redis (no password). */
    readonly server: string,
    readonly redisTimeout: number,
    options?: ErrorOptions & { waited?: number },
  ) {
    const cause = options?.cause instanceof Error ? `: ${options.cause.message}` : '';
    super(`Redis at ${server} did not answer within ${options?.waited ?? redisTimeout} ms${cause}`, lock, options);
  }
}
