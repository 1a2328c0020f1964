import { Observable } from 'rxjs';
import { Acquisition } from './acquisition';
import type { Lease } from './lease';
import { resolveLockOptions, type LockOptions, type LockSettings } from './options';

/**
 * A distributed lock as an Observable.
 *
 * Cold: every subscription is its own acquisition with its own owner token.
 * It emits one `Lease` once the lock is acquired and then stays open while
 * the lock is held; unsubscribing releases it. While it waits it sends Redis
 * nothing: keyspace notifications on the lock's key (and the holder's expiry
 * deadline) wake it.
 *
 * Errors: `LockTimeoutError` when `timeout` passes first; `LockLostError`
 * when the hold ends without unsubscribe (the lease's `signal` aborts first);
 * `signal.reason` when `options.signal` aborts. Bad options throw TypeError
 * or RangeError here, before anything is sent to Redis.
 */
export function lock$(name: string, options?: LockOptions): Observable<Lease> {
  return lockWithSettings$(resolveLockOptions(name, options));
}

/** `lock$` for settings already validated (the facade validates its own options once). */
export function lockWithSettings$(settings: LockSettings): Observable<Lease> {
  return new Observable<Lease>((observer) => {
    const acquisition = new Acquisition(settings, observer);
    acquisition.start();
    return () => acquisition.close();
  });
}
