import type { Subscription } from 'rxjs';
import { lockAllWithSettings$ } from '../core/lock-all';
import { forceReleaseHold, inspectHold, type HoldAddress } from '../core/lock-state';
import { releaseMultiLease, type MultiLease } from '../core/multi-lease';
import { checkNames, namesLabel, type LockAllSettings } from '../core/multi-options';
import { checkOptionsObject, modeAndLine, type LockMode } from '../core/options';
import { LockLostError, LockTimeoutError, NotOwnerError } from '../errors';
import { MultiLockKind } from '../redis/kinds/multi-lock-kind';
import { settledWithin } from './facade-lock';
import {
  LOCK_OPTIONS,
  resolveAcquireOptions,
  resolveFacadeOptions,
  resolveReleaseOptions,
  type AcquireOptions,
  type FacadeSettings,
  type RedisLockOptions,
  type ReleaseOptions,
} from './facade-options';

/** RedisMultiLock's options: the facade's, and the mode every name is taken in. */
export interface RedisMultiLockOptions extends Omit<RedisLockOptions, 'fair' | 'handoffGrace'> {
  /** `exclusive` (default) or `write`, which are the same, or `read`: read locks on every name. */
  mode?: LockMode;
  /** Not supported (see lockAll$). */
  fair?: false;
}

interface Hold {
  readonly lease: MultiLease;
  readonly subscription: Subscription;
}

/**
 * The promise facade over `lockAll$`: several locks held together, all or
 * nothing, taken in one global order so that no two instances deadlock
 * whatever order their names were given in. Like `RedisLock` it is one owner
 * and not reentrant: a second `acquire` waits for the instance's own hold to
 * be released (within its timeout and signal). The constructor does no Redis
 * I/O; bad names or options throw TypeError or RangeError.
 */
export class RedisMultiLock {
  readonly names: readonly string[];
  /** The names in messages (and in errors' `lock`). */
  readonly name: string;
  private readonly settings: FacadeSettings;
  private readonly kind: Pick<LockAllSettings['lock'], 'mode' | 'fair' | 'handoffGrace' | 'label' | 'kind'>;
  private hold: Hold | undefined;
  private inFlight = false;
  private turnChanged: { promise: Promise<void>; resolve: () => void } | undefined;

  constructor(names: readonly string[], options?: RedisMultiLockOptions) {
    this.names = Object.freeze(checkNames(names));
    this.name = namesLabel(this.names);
    const { mode, ...rest } = checkOptionsObject(options, ['mode', ...LOCK_OPTIONS], 'RedisMultiLock options');
    this.settings = resolveFacadeOptions(rest);
    if (this.settings.fair) throw new RangeError('RedisMultiLock does not take fair: true (see lockAll$)');
    this.kind = modeAndLine(mode, false, this.settings.handoffGrace, this.settings.label);
  }

  /** Each name's fencing token in this instance's current hold. */
  get fences(): Readonly<Record<string, number>> | undefined {
    return this.hold?.lease.fences;
  }

  /** Aborts when this instance's current hold ends; undefined while it holds nothing. */
  get signal(): AbortSignal | undefined {
    return this.hold?.lease.signal;
  }

  /**
   * `blocking: false` makes one attempt; `timeout` (ms) resolves false once
   * it passes, with none of the names held; the default waits forever.
   * Resolves true once every name is held.
   */
  async acquire(options?: AcquireOptions): Promise<boolean> {
    const resolved = resolveAcquireOptions(options);
    const { signal } = resolved;
    let { timeout } = resolved;
    const deadline = timeout > 0 ? performance.now() + timeout : undefined;
    while (this.inFlight || this.hold !== undefined) {
      if (timeout === 0) return false;
      const left = deadline === undefined ? undefined : deadline - performance.now();
      if (left !== undefined && left <= 0) return false;
      if (!(await settledWithin(this.nextTurn(), left, signal))) return false;
    }
    if (deadline !== undefined) timeout = Math.max(0, Math.ceil(deadline - performance.now()));
    return this.subscribe(timeout, signal);
  }

  /**
   * Releases every name. Rejects with NotOwnerError when this instance holds
   * nothing (or lost its hold meanwhile). `force: true` frees every name
   * whoever holds it (readers included, unless the mode is 'read', for which
   * it is a plain release), and does not mind free names.
   */
  async release(options?: ReleaseOptions): Promise<void> {
    const { force } = resolveReleaseOptions(options);
    const hold = this.hold;
    if (force && this.kind.mode === 'write') {
      this.forget(hold);
      hold?.subscription.unsubscribe();
      await forceReleaseHold(this.address());
      return;
    }
    if (hold === undefined) throw new NotOwnerError(this.name, (await inspectHold(this.address())).held);
    this.forget(hold);
    let reply;
    try {
      reply = await releaseMultiLease(hold.lease);
    } finally {
      hold.subscription.unsubscribe();
    }
    if (reply !== 1) throw new NotOwnerError(this.name, reply === -1);
  }

  /** Whether anyone holds any of the names. */
  async locked(): Promise<boolean> {
    return (await inspectHold(this.address())).held;
  }

  /**
   * Acquires every name (rejecting with LockTimeoutError when `timeout`
   * passes), runs `fn` with the hold's signal and releases afterwards; if
   * the hold ended under it (a name lost, or released by another call),
   * rejects with a LockLostError even when `fn` succeeded.
   */
  async withLock<T>(fn: (signal: AbortSignal) => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    if (!(await this.acquire(options))) throw new LockTimeoutError(this.name, resolveAcquireOptions(options).timeout);
    const hold = this.hold;
    if (hold === undefined) throw new LockLostError(this.name, 'gone');
    const { signal } = hold.lease;
    let outcome: { ok: true; value: T } | { ok: false; error: unknown };
    try {
      outcome = { ok: true, value: await fn(signal) };
    } catch (error) {
      outcome = { ok: false, error };
    }
    const endedUnderIt = this.hold !== hold || signal.aborted;
    if (this.hold === hold) await this.release().catch(() => undefined);
    if (endedUnderIt) {
      throw signal.reason instanceof LockLostError ? signal.reason : new LockLostError(this.name, 'released', { cause: signal.reason });
    }
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
  }

  /** `await using all = new RedisMultiLock(...)`: releases the hold, if any, when the scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    if (this.hold === undefined) return;
    await this.release().catch((error: unknown) => {
      if (!(error instanceof NotOwnerError)) throw error;
    });
  }

  /** `signal` bounds the wait only: once held, the hold ends by release, not by the signal. */
  private subscribe(timeout: number, signal: AbortSignal | undefined): Promise<boolean> {
    this.inFlight = true;
    const settled = (): void => {
      this.inFlight = false;
      this.passTurn();
    };
    return new Promise<boolean>((resolve, reject) => {
      if (signal?.aborted) {
        settled();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
        reject(signal.reason);
        return;
      }
      let acquired: Hold | undefined;
      const onAbort = (): void => {
        subscription.unsubscribe();
        settled();
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
        reject(signal?.reason);
      };
      const settings: LockAllSettings = {
        names: this.names,
        lock: { ...this.settings, ...this.kind, name: this.name, timeout, signal: undefined },
      };
      const subscription = lockAllWithSettings$(settings).subscribe({
        next: (lease) => {
          signal?.removeEventListener('abort', onAbort);
          acquired = { lease, subscription };
          this.hold = acquired;
          settled();
          resolve(true);
        },
        error: (error: unknown) => {
          signal?.removeEventListener('abort', onAbort);
          if (acquired === undefined) {
            settled();
            if (error instanceof LockTimeoutError) resolve(false);
            // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- passes through as given
            else reject(error);
          } else {
            this.forget(acquired);
          }
        },
      });
      if (acquired === undefined && !subscription.closed) signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The instance no longer holds `hold`: the next acquire may go. */
  private forget(hold: Hold | undefined): void {
    if (hold === undefined || this.hold !== hold) return;
    this.hold = undefined;
    this.passTurn();
  }

  private nextTurn(): Promise<void> {
    if (this.turnChanged === undefined) {
      let resolve!: () => void;
      const promise = new Promise<void>((r) => (resolve = r));
      this.turnChanged = { promise, resolve };
    }
    return this.turnChanged.promise;
  }

  private passTurn(): void {
    const changed = this.turnChanged;
    this.turnChanged = undefined;
    changed?.resolve();
  }

  /** Every name, for locked() and force release (one command per name: they may span Cluster slots). */
  private address(): HoldAddress {
    const { prefix, redis, redisTimeout } = this.settings;
    return { kind: new MultiLockKind(this.names, this.kind.mode, this.settings), name: this.name, prefix, redis, redisTimeout };
  }
}
