import { RedisSemaphore } from '../../src/index';

/**
 * A RedisSemaphore the facade fixture can clean up after a failed test: the
 * fixture frees what is left held with `release({ force: true })`, which a
 * semaphore does not have; here it gives back every permit the instance holds.
 */
export class TrackedSemaphore extends RedisSemaphore {
  override release(options?: { permits?: number; force?: boolean }): Promise<void> {
    if (options?.force === true) return this[Symbol.asyncDispose]();
    return super.release(options);
  }
}
