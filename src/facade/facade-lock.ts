import { Acquisition, type AcquisitionObserver } from '../core/acquisition';
import { forgoLease, releaseLease } from '../core/held-lease';
import type { Lease } from '../core/lease';
import { forceReleaseHold, inspectHold, type HoldAddress } from '../core/lock-state';
import { checkName, type HoldMode, type LockSettings } from '../core/options';
import type { HoldKind } from '../redis/hold-kind';
import { lockKind } from '../redis/kinds/lock-kind';
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
  /** Its acquisition's observer: ending it closes the acquisition (what unsubscribing lock$ does). */
  readonly waiter: FacadeWaiter;
  /** Acquisitions not yet matched by a release (always 1 unless reentrant). */
  depth: number;
}

/** One acquire's hold, reporting to an AcquisitionObserver: the Acquisition itself, or what a class composes (a multi-lock). */
export interface Holding {
  start(): void;
  /** Releases what it holds, leaves what it waits for. */
  close(): void;
}

/** Stands for "the acquire's signal aborted" in WaiterOwner.ended. */
const ABORTED = Symbol('aborted');

/** What a FacadeWaiter reports to its instance. */
interface WaiterOwner {
  /** Held: `lease` was granted to the acquisition numbered `turn`. */
  granted(waiter: FacadeWaiter, lease: Lease): void;
  /** The acquisition numbered `turn` failed before it held, or its hold ended. */
  ended(waiter: FacadeWaiter, error: unknown): void;
}

/**
 * One facade acquire, driving the acquisition state machine directly, as its
 * observer: no Observable, subscriber or closures between (the facade's
 * layer over lock$ cost it a second promise/subscription per acquire, which
 * showed in CPU per lock and heap per waiter). It behaves as an rxjs
 * subscriber does: `closed` after an error or once ended, and ending it
 * closes the acquisition (releasing a hold, leaving the queue).
 */
class FacadeWaiter implements AcquisitionObserver {
  closed = false;
  held = false;
  private readonly acquisition: Holding;

  constructor(
    begin: (observer: AcquisitionObserver) => Holding,
    private readonly owner: WaiterOwner,
    readonly turn: number,
    readonly resolve: (held: boolean) => void,
    readonly reject: (error: unknown) => void,
    readonly signal: AbortSignal | undefined,
  ) {
    this.acquisition = begin(this);
  }

  start(): void {
    this.acquisition.start();
    // The waiter listens itself (handleEvent): the signal bounds the wait only.
    if (!this.held && !this.closed) this.signal?.addEventListener('abort', this, { once: true });
  }

  next(lease: Lease): void {
    if (this.closed) return;
    this.held = true;
    this.signal?.removeEventListener('abort', this);
    this.owner.granted(this, lease);
  }

  error(error: unknown): void {
    if (this.closed) return;
    this.end();
    this.signal?.removeEventListener('abort', this);
    this.owner.ended(this, error);
  }

  /** Unsubscribes, as it were: the acquisition closes (a hold is released, a wait left). */
  end(): void {
    this.closed = true;
    this.acquisition.close();
  }

  /** The signal aborted while waiting. */
  handleEvent(): void {
    if (this.closed || this.held) return;
    this.end();
    this.owner.ended(this, ABORTED);
  }
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
 *
 * An instance holds at most one hold. A second `acquire` on an instance that
 * holds (or is still acquiring) waits for that hold to be released, as a
 * second `threading.Lock.acquire()` does, within its own timeout and signal,
 * and only then asks Redis; `blocking: false` answers false at once. This
 * is so for read locks too: two `withLock` calls on one `RedisReadLock`
 * run one after the other. A reentrant lock (RLock) re-enters instead.
 */
export abstract class FacadeLock implements WaiterOwner {
  readonly name: string;
  protected readonly settings: FacadeSettings;
  private hold: Hold | undefined;
  /** The acquisition in flight, if any (its number): the instance's turn is taken until it settles. */
  private inFlight: number | undefined;
  private turns = 0;
  /** Resolves at the next change of turn (an acquisition settled, a hold ended). */
  private turnChanged: { promise: Promise<void>; resolve: () => void } | undefined;
  private waitForever: LockSettings | undefined;

  constructor(name: string, options?: RedisLockOptions) {
    this.name = checkName(name);
    this.settings = resolveFacadeOptions(options);
  }

  /** Whether a second acquire by the holding instance succeeds at once (RLock) or waits (Lock). */
  protected abstract readonly reentrant: boolean;

  /** Read locks share the name with other readers; all others take it exclusively. */
  protected readonly mode: HoldMode = 'write';

  /** The kind of hold this class takes (the seam in redis/hold-kind.ts): a lock in `mode`. */
  protected holdKind(): HoldKind {
    return lockKind(this.mode, this.settings);
  }

  /**
   * One acquire's hold with these settings: the acquisition state machine of
   * holdKind(), driven directly (a multi-lock composes one per Cluster slot).
   */
  protected holding(settings: LockSettings, observer: AcquisitionObserver): Holding {
    return new Acquisition(settings, observer);
  }

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
    if (this.inFlight === undefined) {
      if (this.reentrant && this.reenter()) return Promise.resolve(true);
      // No async frame on the common path: ten thousand waiters add up.
      if (this.hold === undefined) return this.subscribe(resolved.timeout, resolved.signal);
    }
    return this.acquireInTurn(resolved);
  }

  /** Waits (within its own timeout and signal) until this instance may ask Redis, then asks. */
  private async acquireInTurn(resolved: { timeout: number; signal: AbortSignal | undefined }): Promise<boolean> {
    const { signal } = resolved;
    let { timeout } = resolved;
    const deadline = timeout > 0 ? performance.now() + timeout : undefined;
    while (this.inFlight !== undefined || (!this.reentrant && this.hold !== undefined)) {
      if (timeout === 0) return false;
      const left = deadline === undefined ? undefined : deadline - performance.now();
      if (left !== undefined && left <= 0) return false;
      if (!(await settledWithin(this.nextTurn(), left, signal))) return false;
    }
    if (this.reentrant && this.reenter()) return true;
    if (deadline !== undefined) timeout = Math.max(0, Math.ceil(deadline - performance.now()));
    return this.subscribe(timeout, signal);
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
      // One step: releasing our own hold first would let a waiter in, only for the force release to evict it.
      if (hold !== undefined) forgoLease(hold.lease);
      this.drop();
      await forceReleaseHold(this.address());
      return;
    }
    if (hold === undefined) {
      const state = await inspectHold(this.address());
      throw new NotOwnerError(this.name, state.held);
    }
    if (hold.depth > 1) {
      hold.depth -= 1;
      return;
    }
    this.forget(hold);
    let reply;
    try {
      reply = await releaseLease(hold.lease);
    } finally {
      hold.waiter.end();
    }
    if (reply !== 1) throw new NotOwnerError(this.name, reply === -1);
  }

  /** Whether anyone holds the lock. */
  async locked(): Promise<boolean> {
    return (await inspectHold(this.address())).held;
  }

  /**
   * Python's `with lock:`. Acquires (rejecting with LockTimeoutError when
   * `timeout` passes), runs `fn` with the hold's signal, and releases
   * afterwards. If the hold ended while `fn` ran by anything but this call
   * (lost in Redis, or released by another call), rejects with a
   * LockLostError even when `fn` succeeded: its work was not protected.
   */
  async withLock<T>(fn: (signal: AbortSignal) => T | Promise<T>, options?: AcquireOptions): Promise<T> {
    if (!(await this.acquire(options))) {
      throw new LockTimeoutError(this.name, resolveAcquireOptions(options).timeout);
    }
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
    if (endedUnderIt) throw this.lossOf(signal);
    if (!outcome.ok) throw outcome.error;
    return outcome.value;
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

  /** The error for a hold that ended under withLock: how it was lost, or that another call released it. */
  private lossOf(signal: AbortSignal): LockLostError {
    if (signal.reason instanceof LockLostError) return signal.reason;
    return new LockLostError(this.name, 'released', { cause: signal.reason });
  }

  /** `signal` bounds the wait only: once held, the hold ends by release, not by the signal. */
  private subscribe(timeout: number, signal: AbortSignal | undefined): Promise<boolean> {
    const settings = this.lockSettings(timeout);
    const turn = (this.turns += 1);
    this.inFlight = turn;
    return new Promise<boolean>((resolve, reject) => {
      if (signal?.aborted) {
        this.settled(turn);
        // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
        reject(signal.reason);
        return;
      }
      new FacadeWaiter((observer) => this.holding(settings, observer), this, turn, resolve, reject, signal).start();
    });
  }

  /** @internal FacadeWaiter's: its acquisition holds. */
  granted(waiter: FacadeWaiter, lease: Lease): void {
    this.hold = { lease, waiter, depth: 1 };
    this.settled(waiter.turn);
    waiter.resolve(true);
  }

  /** @internal FacadeWaiter's: its acquisition failed or was abandoned before it held, or its hold ended. */
  ended(waiter: FacadeWaiter, error: unknown): void {
    if (waiter.held) {
      if (this.hold?.waiter === waiter) this.forget(this.hold);
      return;
    }
    this.settled(waiter.turn);
    if (error === ABORTED) {
      waiter.reject(waiter.signal?.reason);
    } else if (error instanceof LockTimeoutError) {
      waiter.resolve(false);
    } else {
      waiter.reject(error);
    }
  }

  /** lock$'s settings for this instance; the wait-forever ones are made once (waiters add up). */
  private lockSettings(timeout: number): LockSettings {
    if (timeout === -1 && this.waitForever !== undefined) return this.waitForever;
    const settings: LockSettings = {
      ...this.settings,
      name: this.name,
      timeout,
      signal: undefined,
      mode: this.mode,
      kind: this.holdKind(),
    };
    if (timeout === -1) this.waitForever = settings;
    return settings;
  }

  /** Forgets the current hold (replaced or force-released), closing its subscription. */
  private drop(): void {
    const hold = this.hold;
    if (hold === undefined) return;
    this.forget(hold);
    hold.waiter.end();
  }

  /** The instance no longer holds `hold`: the next acquire may go. */
  private forget(hold: Hold): void {
    if (this.hold !== hold) return;
    this.hold = undefined;
    this.passTurn();
  }

  /** The acquisition numbered `turn` settled: the next acquire may go. */
  private settled(turn: number): void {
    if (this.inFlight !== turn) return;
    this.inFlight = undefined;
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

  private address(): HoldAddress {
    const { prefix, redis, redisTimeout } = this.settings;
    return { kind: this.holdKind(), name: this.name, prefix, redis, redisTimeout };
  }
}
