import type { Subscription } from 'rxjs';
import { releaseLease } from '../core/acquisition';
import type { Lease } from '../core/lease';
import { lockWithSettings$ } from '../core/lock';
import { forceReleaseLock, inspectLock, type LockAddress } from '../core/lock-state';
import { checkName, type HoldMode, type LockSettings } from '../core/options';
import { LockLostError, LockTimeoutError, NotOwnerError } from '../errors';
import {
  resolveAcquireOptions,
  resolveFacadeOptions,
  resolveReleaseOptions,
  type AcquireOptions,
  type FacadeSettings,
  type RedisLockOptions,
  type ReleaseOptions,
} from './facade-options';

interface Hold {
  readonly lease: Lease;
  readonly subscription: Subscription;
  /** Acquisitions not yet matched by a release (always 1 unless reentrant). */
  depth: number;
}

/** Whether `promise` settled within `ms` (undefined: no limit); rejects with the signal's reason on abort. */
function settledWithin(promise: Promise<unknown>, ms: number | undefined, signal: AbortSignal | undefined): Promise<boolean> {
  return new Promise<boolean>((resolve, reject) => {
    const timer = ms === undefined ? undefined : setTimeout(() => finish(false), ms);
    const onAbort = (): void => {
      cleanup();
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
      reject(signal?.reason);
    };
    const cleanup = (): void => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', onAbort);
    };
    const finish = (settled: boolean): void => {
      cleanup();
      resolve(settled);
    };
    if (signal?.aborted) {
      onAbort();
      return;
    }
    signal?.addEventListener('abort', onAbort, { once: true });
    promise.then(
      () => finish(true),
      () => finish(true),
    );
  });
}

/**
 * The promise facade over `lock$`, with the interface of Python's
 * `threading.Lock`. Ownership belongs to the instance: two instances exclude
 * each other even in one process. The constructor does no Redis I/O.
 */
export abstract class FacadeLock {
  readonly name: string;
  protected readonly settings: FacadeSettings;
  private hold: Hold | undefined;
  private acquiring: Promise<boolean> | undefined;
  private waitForever: LockSettings | undefined;

  constructor(name: string, options?: RedisLockOptions) {
    this.name = checkName(name);
    this.settings = resolveFacadeOptions(options);
  }

  /** Whether a second acquire by the holding instance succeeds at once (RLock) or waits (Lock). */
  protected abstract readonly reentrant: boolean;

  /** Read locks share the name with other readers; all others take it exclusively. */
  protected readonly mode: HoldMode = 'write';

  /** The fencing token of this instance's current hold. */
  get fence(): number | undefined {
    return this.hold?.lease.fence;
  }

  /** Aborts when this instance's current hold ends; undefined while it holds nothing. */
  get signal(): AbortSignal | undefined {
    return this.hold?.lease.signal;
  }

  /**
   * `blocking: false` makes one attempt; `timeout` (ms) resolves false once
   * it passes; the default waits forever. Resolves true once held.
   */
  acquire(options?: AcquireOptions): Promise<boolean> {
    let resolved: { timeout: number; signal: AbortSignal | undefined };
    try {
      resolved = resolveAcquireOptions(options);
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a TypeError or RangeError from validation
      return Promise.reject(error);
    }
    // No async frame for the plain locks: ten thousand waiters add up.
    return this.reentrant ? this.acquireReentrant(resolved) : this.subscribe(resolved.timeout, resolved.signal);
  }

  /** One owner: a concurrent acquire waits for the one in flight (within its own timeout and signal), then re-enters. */
  private async acquireReentrant(resolved: { timeout: number; signal: AbortSignal | undefined }): Promise<boolean> {
    const { signal } = resolved;
    let { timeout } = resolved;
    const deadline = timeout > 0 ? performance.now() + timeout : undefined;
    while (this.acquiring !== undefined) {
      if (timeout === 0) return this.reenter();
      const left = deadline === undefined ? undefined : deadline - performance.now();
      if (left !== undefined && left <= 0) return false;
      if (!(await settledWithin(this.acquiring, left, signal))) return false;
    }
    if (this.reenter()) return true;
    if (deadline !== undefined) timeout = Math.max(0, Math.ceil(deadline - performance.now()));
    const attempt = this.subscribe(timeout, signal);
    this.acquiring = attempt;
    try {
      return await attempt;
    } finally {
      if (this.acquiring === attempt) this.acquiring = undefined;
    }
  }


  /**
   * Releases this instance's hold. Rejects with NotOwnerError when it holds
   * nothing (or its hold was lost meanwhile). `force: true` frees the lock
   * whoever holds it, readers included, and does not mind a free lock;
   * a read lock never evicts others, so for it `force` is a plain release.
   */
  async release(options?: ReleaseOptions): Promise<void> {
    const { force } = resolveReleaseOptions(options);
    const hold = this.hold;
    if (force && this.mode === 'write') {
      this.drop();
      await forceReleaseLock(this.address());
      return;
    }
    if (hold === undefined) {
      const state = await inspectLock(this.address());
      throw new NotOwnerError(this.name, state.held);
    }
    if (hold.depth > 1) {
      hold.depth -= 1;
      return;
    }
    this.hold = undefined;
    let reply;
    try {
      reply = await releaseLease(hold.lease);
    } finally {
      hold.subscription.unsubscribe();
    }
    if (reply !== 1) throw new NotOwnerError(this.name, reply === -1);
  }

  /** Whether anyone holds the lock. */
  async locked(): Promise<boolean> {
    return (await inspectLock(this.address())).held;
  }

  /**
   * Python's `with lock:`. Acquires (rejecting with LockTimeoutError when
   * `timeout` passes), runs `fn` with the hold's signal, and releases in
   * `finally`. If the hold was lost while `fn` ran, rejects with that
   * LockLostError even when `fn` succeeded: its work was not protected.
   */
  async withLock<T>(fn: (signal: AbortSignal) => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    if (!(await this.acquire(options))) {
      throw new LockTimeoutError(this.name, resolveAcquireOptions(options).timeout);
    }
    const hold = this.hold;
    if (hold === undefined) throw new LockLostError(this.name, 'gone');
    const { signal } = hold.lease;
    let result: T;
    try {
      result = await fn(signal);
    } catch (error) {
      // Work that honoured the signal failed because the hold was lost: say that.
      if (signal.reason instanceof LockLostError && error !== signal.reason) throw signal.reason;
      throw error;
    } finally {
      if (this.hold === hold) await this.release().catch(() => undefined);
    }
    if (signal.reason instanceof LockLostError) throw signal.reason;
    return result;
  }

  /** `await using lock = new RedisLock(...)`: releases the hold, if any, when the scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    const hold = this.hold;
    if (hold === undefined) return;
    hold.depth = 1;
    await this.release().catch((error: unknown) => {
      if (!(error instanceof NotOwnerError)) throw error;
    });
  }

  private reenter(): boolean {
    if (this.hold === undefined) return false;
    this.hold.depth += 1;
    return true;
  }

  /** `signal` bounds the wait only: once held, the hold ends by release, not by the signal. */
  private subscribe(timeout: number, signal: AbortSignal | undefined): Promise<boolean> {
    const settings = this.lockSettings(timeout);
    return new Promise<boolean>((resolve, reject) => {
      if (signal?.aborted) {
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
        reject(signal.reason);
        return;
      }
      let acquired: Hold | undefined;
      const onAbort = (): void => {
        subscription.unsubscribe();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
        reject(signal?.reason);
      };
      const subscription = lockWithSettings$(settings).subscribe({
        next: (leaseNow) => {
          signal?.removeEventListener('abort', onAbort);
          this.drop();
          acquired = { lease: leaseNow, subscription, depth: 1 };
          this.hold = acquired;
          resolve(true);
        },
        error: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          if (acquired === undefined) {
            if (error instanceof LockTimeoutError) resolve(false);
            // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
            else reject(error);
          } else if (this.hold === acquired) {
            this.hold = undefined;
          }
        },
      });
      if (acquired === undefined && !subscription.closed) signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** lock$'s settings for this instance; the wait-forever ones are made once (waiters add up). */
  private lockSettings(timeout: number): LockSettings {
    if (timeout === -1 && this.waitForever !== undefined) return this.waitForever;
    const settings: LockSettings = { ...this.settings, name: this.name, timeout, signal: undefined, mode: this.mode };
    if (timeout === -1) this.waitForever = settings;
    return settings;
  }

  /** Forgets the current hold (replaced or force-released), closing its subscription. */
  private drop(): void {
    const hold = this.hold;
    this.hold = undefined;
    hold?.subscription.unsubscribe();
  }

  private address(): LockAddress {
    const { prefix, redis, redisTimeout } = this.settings;
    return { name: this.name, prefix, redis, redisTimeout };
  }
}
