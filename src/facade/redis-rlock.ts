import { FacadeLock } from './facade-lock';

/**
 * A reentrant distributed lock with the interface of `threading.RLock`: the
 * holding instance may acquire it again at once (no Redis round trip), and
 * needs as many releases as acquires. It excludes `RedisLock` of the same
 * name and prefix: both guard the same resource.
 */
export class RedisRLock extends FacadeLock {
  protected readonly reentrant = true;
}
