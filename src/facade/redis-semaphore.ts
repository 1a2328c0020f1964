import type { Subscription } from 'rxjs';
import { releaseLease } from '../core/held-lease';
import type { HoldAddress } from '../core/lock-state';
import { checkName, checkOptionsObject } from '../core/options';
import { semaphoreWithSettings$ } from '../core/semaphore';
import { innerLease, type SemaphoreLease } from '../core/semaphore-lease';
import { checkPermitCount, type SemaphoreSettings } from '../core/semaphore-options';
import { semaphoreState, setSemaphoreLimit, shrinkGrant } from '../core/semaphore-state';
import { LockError, LockLostError, LockTimeoutError, NotOwnerError } from '../errors';
import { semaphoreKind } from '../redis/kinds/semaphore-kind';
import { LOCK_OPTIONS, resolveAcquireOptions, resolveFacadeOptions, type AcquireOptions, type FacadeSettings, type RedisLockOptions } from './facade-options';

export interface RedisSemaphoreOptions extends RedisLockOptions {
  /**
   * The number of permits. The first acquisition of the name (or
   * `setLimit`) stores it in Redis, and the stored limit wins: an instance
   * passing another rejects with LockError. Optional once one is stored.
   */
  limit?: number;
}

export interface SemaphoreAcquireOptions extends AcquireOptions {
  /** Permits taken at once, all or none. Default 1. */
  permits?: number;
}

export interface SemaphoreReleaseOptions {
  /** Permits given back; at most what the instance holds. Default 1. */
  permits?: number;
}

/** One grant the instance holds: `permits` is what it still holds of it (a partial release shrinks it). */
interface Grant {
  readonly lease: SemaphoreLease;
  readonly subscription: Subscription;
  permits: number;
}

const SEMAPHORE_OPTIONS = [...LOCK_OPTIONS, 'limit'] as const;
const ACQUIRE_OPTIONS = ['blocking', 'timeout', 'signal', 'permits'] as const;

/**
 * A distributed counting semaphore with the interface of Python's
 * `threading.BoundedSemaphore`, over `semaphore$`. The constructor does no
 * Redis I/O.
 *
 * Permits belong to the instance: it may acquire several times (each
 * acquisition a grant with its own lease and fence), and `held` is the sum.
 * `release({ permits })` gives back that many of them, newest grant first;
 * a grant larger than what is left to give back keeps the rest, with its
 * fence and lease unchanged (one shrink script). Releasing more than `held`
 * rejects with NotOwnerError and changes nothing. There is no force
 * release: a permit comes back only from its holder or by expiry.
 */
export class RedisSemaphore {
  readonly name: string;
  private readonly settings: FacadeSettings;
  /** The limit this instance passes (0: none, the stored one is used); setLimit updates it. */
  private limit: number;
  /** Oldest first. */
  private readonly grants: Grant[] = [];

  constructor(name: string, options?: RedisSemaphoreOptions) {
    this.name = checkName(name, 'semaphore name');
    const { limit, ...rest } = checkOptionsObject(options, SEMAPHORE_OPTIONS, 'semaphore options');
    this.limit = limit === undefined ? 0 : checkPermitCount(limit, 'limit');
    this.settings = resolveFacadeOptions(rest);
  }

  /** Permits this instance holds. */
  get held(): number {
    let sum = 0;
    for (const grant of this.grants) sum += grant.permits;
    return sum;
  }

  /** The fencing token of this instance's newest grant; undefined while it holds nothing. */
  get fence(): number | undefined {
    return this.grants[this.grants.length - 1]?.lease.fence;
  }

  /** Aborts when this instance's newest grant ends; undefined while it holds nothing. */
  get signal(): AbortSignal | undefined {
    return this.grants[this.grants.length - 1]?.lease.signal;
  }

  /**
   * Takes `permits` (default 1) at once. `blocking: false` makes one
   * attempt; `timeout` (ms) resolves false once it passes; the default
   * waits forever. `signal` bounds the wait only. Resolves true once held.
   */
  acquire(options?: SemaphoreAcquireOptions): Promise<boolean> {
    let request: { permits: number; timeout: number; signal: AbortSignal | undefined };
    try {
      request = this.resolveAcquire(options);
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a TypeError or RangeError from validation
      return Promise.reject(error);
    }
    return this.subscribe(request).then((grant) => grant !== undefined);
  }

  /**
   * Gives back `permits` (default 1) of this instance's permits, newest
   * grant first. Rejects with NotOwnerError, changing nothing, when the
   * instance holds fewer; also when a grant turned out to be gone already.
   */
  async release(options?: SemaphoreReleaseOptions): Promise<void> {
    const opts = checkOptionsObject(options, ['permits'] as const, 'release options');
    const permits = opts.permits === undefined ? 1 : checkPermitCount(opts.permits, 'permits');
    if (permits > this.held) {
      const state = await semaphoreState(this.address());
      throw new NotOwnerError(this.name, state.held > 0);
    }
    // Decided synchronously, so that concurrent releases never pick the same permits.
    const steps: Promise<boolean>[] = [];
    let left = permits;
    while (left > 0) {
      const grant = this.grants[this.grants.length - 1] as Grant;
      if (grant.permits <= left) {
        left -= grant.permits;
        steps.push(this.releaseGrant(grant));
      } else {
        grant.permits -= left;
        steps.push(this.shrink(grant, left));
        left = 0;
      }
    }
    const outcomes = await Promise.all(steps);
    if (outcomes.includes(false)) throw new NotOwnerError(this.name, false);
  }

  /**
   * Python's `with semaphore:`. Acquires `permits` (rejecting with
   * LockTimeoutError when `timeout` passes), runs `fn` with the grant's
   * signal, and gives that grant back afterwards. If the grant ended while
   * `fn` ran by anything but this call, rejects with a LockLostError even
   * when `fn` succeeded.
   */
  async withLock<T>(fn: (signal: AbortSignal) => T | Promise<T>, options?: SemaphoreAcquireOptions): Promise<T> {
    const request = this.resolveAcquire(options);
    const grant = await this.subscribe(request);
    if (grant === undefined) throw new LockTimeoutError(this.name, request.timeout);
    const { signal } = grant.lease;
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: await fn(signal) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const mine = this.grants.includes(grant);
    const endedUnderIt = !mine || signal.aborted;
    if (mine) await this.releaseGrant(grant).catch(() => undefined);
    if (endedUnderIt) {
      throw signal.reason instanceof LockLostError ? signal.reason : new LockLostError(this.name, 'released', { cause: signal.reason });
    }
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /** Permits free now: the limit in force less everyone's held permits (0 when above a lowered limit). */
  async available(): Promise<number> {
    const state = await semaphoreState(this.address());
    const limit = state.limit > 0 ? state.limit : this.limit;
    if (limit === 0) {
      throw new LockError(`semaphore '${this.name}' has no limit stored in Redis: pass one ({ limit: n }) or call setLimit(n) first`, this.name);
    }
    return Math.max(0, limit - state.held);
  }

  /** Whether no permit is free now (asyncio's `Semaphore.locked()`). */
  async locked(): Promise<boolean> {
    return (await this.available()) === 0;
  }

  /**
   * Stores `limit` in Redis for everyone. Holders above a lowered limit keep
   * their permits; new grants wait until the total is below it. Instances
   * that pass another limit reject until they pass this one or none; this
   * instance passes `limit` from now on if it passed one before.
   */
  async setLimit(limit: number): Promise<void> {
    const checked = checkPermitCount(limit, 'limit');
    await setSemaphoreLimit(this.address(), checked);
    if (this.limit > 0) this.limit = checked;
  }

  /** `await using sem = new RedisSemaphore(...)`: gives back every permit it holds when the scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await Promise.all([...this.grants].map((grant) => this.releaseGrant(grant)));
  }

  private resolveAcquire(options: unknown): { permits: number; timeout: number; signal: AbortSignal | undefined } {
    // A boolean gets resolveAcquireOptions' own hint (acquire({ blocking: false })).
    if (typeof options === 'boolean') resolveAcquireOptions(options);
    const { permits, ...rest } = checkOptionsObject(options, ACQUIRE_OPTIONS, 'acquire options');
    const count = permits === undefined ? 1 : checkPermitCount(permits, 'permits');
    if (this.limit > 0 && count > this.limit) {
      throw new RangeError(`permits (${count}) must not exceed the limit (${this.limit})`);
    }
    return { permits: count, ...resolveAcquireOptions(rest) };
  }

  /** One grant of `permits`; undefined when the timeout passed first. `signal` bounds the wait only. */
  private subscribe(request: { permits: number; timeout: number; signal: AbortSignal | undefined }): Promise<Grant | undefined> {
    const { permits, timeout, signal } = request;
    const settings = this.semaphoreSettings(permits, timeout);
    return new Promise<Grant | undefined>((resolve, reject) => {
      if (signal?.aborted) {
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
        reject(signal.reason);
        return;
      }
      let acquired: Grant | undefined;
      const onAbort = (): void => {
        subscription.unsubscribe();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
        reject(signal?.reason);
      };
      const subscription = semaphoreWithSettings$(settings).subscribe({
        next: (lease) => {
          signal?.removeEventListener('abort', onAbort);
          acquired = { lease, subscription, permits };
          this.grants.push(acquired);
          resolve(acquired);
        },
        error: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          if (acquired === undefined) {
            if (error instanceof LockTimeoutError) resolve(undefined);
            // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
            else reject(error);
          } else {
            this.forget(acquired);
          }
        },
      });
      if (acquired === undefined && !subscription.closed) signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  private semaphoreSettings(permits: number, timeout: number): SemaphoreSettings {
    const { fair, label } = this.settings;
    const limit = this.limit;
    return {
      ...this.settings,
      name: this.name,
      timeout,
      signal: undefined,
      mode: 'read',
      kind: semaphoreKind({ permits, limit, fair, label }),
      limit,
      permits,
    };
  }

  /** Gives one whole grant back; false when Redis no longer had it. */
  private async releaseGrant(grant: Grant): Promise<boolean> {
    if (!this.forget(grant)) return true;
    try {
      return (await releaseLease(innerLease(grant.lease))) === 1;
    } finally {
      grant.subscription.unsubscribe();
    }
  }

  /** Gives back `permits` of a grant that keeps the rest (already counted off); false when it was gone. */
  private async shrink(grant: Grant, permits: number): Promise<boolean> {
    const kept = await shrinkGrant(this.address(), grant.lease.token, permits);
    if (kept > 0) return true;
    // Gone in Redis (expired, deleted): the hold keeper will say so too; forget it now.
    if (this.forget(grant)) grant.subscription.unsubscribe();
    return false;
  }

  /** The instance no longer holds `grant`; false when it had forgotten it already. */
  private forget(grant: Grant): boolean {
    const at = this.grants.indexOf(grant);
    if (at < 0) return false;
    this.grants.splice(at, 1);
    return true;
  }

  private address(): HoldAddress {
    const { prefix, redis, redisTimeout } = this.settings;
    return { kind: semaphoreKind(), name: this.name, prefix, redis, redisTimeout };
  }
}
