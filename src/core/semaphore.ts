import { map, type Observable } from 'rxjs';
import { lockWithSettings$ } from './lock';
import { semaphoreLease, type SemaphoreLease } from './semaphore-lease';
import { resolveSemaphoreOptions, type SemaphoreOptions, type SemaphoreSettings } from './semaphore-options';

/**
 * A distributed semaphore as an Observable: `lock$` for `permits` of the
 * semaphore's permits at once (all or none).
 *
 * Every subscription is one grant with its own owner token, lease (renewed
 * every lease / 3, or a fixed ttl) and fence, strictly increasing per
 * semaphore name. It emits one `SemaphoreLease` once granted and stays open
 * while held; unsubscribing gives the permits back. The limit lives in
 * Redis (see README, "Semaphores"): a `limit` other than the stored one
 * rejects with LockError, as does no limit when none is stored; `permits`
 * above the stored limit rejects with RangeError.
 *
 * Errors otherwise as `lock$`: LockTimeoutError, LockLostError (the lease's
 * signal aborts first), `signal.reason`; bad options throw TypeError or
 * RangeError here, before anything is sent to Redis.
 */
export function semaphore$(name: string, options?: SemaphoreOptions): Observable<SemaphoreLease> {
  return semaphoreWithSettings$(resolveSemaphoreOptions(name, options));
}

/** `semaphore$` for settings already validated (the facade validates its own options once). */
export function semaphoreWithSettings$(settings: SemaphoreSettings): Observable<SemaphoreLease> {
  return lockWithSettings$(settings).pipe(map((lease) => semaphoreLease(lease, settings.permits)));
}
