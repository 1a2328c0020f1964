import { FacadeLock } from './facade-lock';

/**
 * The writer of a read/write lock: behaves exactly like `RedisLock` and
 * excludes it, and every reader. `release({ force: true })` frees the name
 * from every holder, readers included.
 */
export class RedisWriteLock extends FacadeLock {
  protected readonly reentrant = false;
}
