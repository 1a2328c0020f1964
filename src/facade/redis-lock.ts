import { FacadeLock } from './facade-lock';

/**
 * An exclusive distributed lock with the interface of `threading.Lock`:
 * not reentrant, so a second `acquire` by the holding instance waits (or
 * returns false) like anyone else's.
 */
export class RedisLock extends FacadeLock {
  protected readonly reentrant = false;
}
