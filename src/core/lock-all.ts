import { Observable, type Subscriber as Observer, type Subscription } from 'rxjs';
import { LockLostError, LockTimeoutError } from '../errors';
import { openConnection, type Connection } from '../redis/connection';
import type { ReleaseReply } from '../redis/hold-kind';
import { lockRuns, MultiLockKind } from '../redis/kinds/multi-lock-kind';
import { forgoLease, releaseLease } from './held-lease';
import type { Lease } from './lease';
import { LeaseSignal } from './lease-signal';
import { lockWithSettings$ } from './lock';
import { HeldMultiLease, type MultiLease, type MultiLeaseHolder } from './multi-lease';
import { namesLabel, resolveLockAllOptions, type LockAllOptions, type LockAllSettings } from './multi-options';

/** An error waits this long at most for the releases of what was taken on the way (as Acquisition's clean-up). */
const CLEANUP_GRACE_MS = 25;
const ignore = (): void => undefined;

/**
 * Several locks at once, all or nothing, without deadlock whatever the order
 * of `names`: emits one MultiLease once every name is held, and releases them
 * all on unsubscribe.
 *
 * Each name is an ordinary lock of its name and prefix (`lock$(name)` and
 * `RedisLock` of any of them exclude it; `mode: 'read'` takes read locks).
 * Names are taken in one order, the same in every process (by Cluster slot,
 * then by full key): on one server, or when all names share a slot, in one
 * atomic script; on a Cluster, one slot after another, each slot's names in
 * one script, holding the earlier slots meanwhile. A waiter sends nothing
 * while blocked: a release or expiry of any of the names it waits for wakes it.
 *
 * Errors: `LockTimeoutError` when `timeout` passes first, and
 * `signal.reason` on abort, with nothing left held (what was taken on the
 * way is released); `LockLostError` naming the name lost when any hold ends
 * without unsubscribe (the lease's `signal` aborts first; the others are
 * released). Bad names (none, a repeated one, more than 1000) and bad
 * options throw TypeError or RangeError here, before any Redis I/O;
 * `fair: true` is refused.
 */
export function lockAll$(names: readonly string[], options?: LockAllOptions): Observable<MultiLease> {
  return lockAllWithSettings$(resolveLockAllOptions(names, options));
}

/** `lockAll$` for settings already validated (the facade validates its own once). */
export function lockAllWithSettings$(settings: LockAllSettings): Observable<MultiLease> {
  return new Observable<MultiLease>((observer) => {
    const acquisition = new MultiAcquisition(settings, observer);
    acquisition.start();
    return () => acquisition.close();
  });
}

/** One slot's run of names, held (or waited for) by one lock$ acquisition. */
interface Run {
  readonly names: readonly string[];
  readonly kind: MultiLockKind;
  subscription: Subscription | undefined;
  lease: Lease | undefined;
}

/**
 * One subscription to lockAll$. States:
 *
 *   new ─▶ acquiring (run i, one after another) ─▶ held ─▶ released
 *   every state ─▶ closed (unsubscribe, timeout, signal, loss, failure)
 *
 * Each run is an ordinary acquisition (core/acquisition.ts) of the lock kind
 * over that run's names, so waiting, renewal, retries and clean-up are the
 * single lock's; this class only sequences the runs and ends them together.
 */
class MultiAcquisition implements MultiLeaseHolder {
  private state: 'new' | 'acquiring' | 'held' | 'released' | 'closed' = 'new';
  private connection: Connection | undefined;
  private readonly runs: Run[] = [];
  private order: string[][] = [];
  private deadline = Infinity;
  private leaseSignal: LeaseSignal | undefined;
  private releasing: Promise<ReleaseReply> | undefined;

  constructor(
    private readonly settings: LockAllSettings,
    private readonly observer: Observer<MultiLease>,
  ) {}

  get signal(): AbortSignal {
    this.leaseSignal ??= new LeaseSignal(this.settings.lock.name);
    return this.leaseSignal.signal;
  }

  start(): void {
    if (this.state !== 'new') return;
    const { signal, timeout, redis, prefix } = this.settings.lock;
    if (signal?.aborted) {
      this.state = 'closed';
      this.observer.error(signal.reason);
      return;
    }
    this.connection = openConnection(redis);
    this.order = lockRuns(this.connection, prefix, this.settings.names);
    if (timeout > 0) this.deadline = performance.now() + timeout;
    this.state = 'acquiring';
    this.acquireRun(0);
  }

  /** Teardown: leaves the wait, or releases every name held. Idempotent. */
  close(): void {
    if (this.state === 'closed' || this.state === 'new') {
      this.state = 'closed';
      return;
    }
    this.state = 'closed';
    this.leaseSignal?.released();
    // Unsubscribing each run releases its names (or leaves its wait, withdrawing a writer's mark).
    for (const run of this.runs) run.subscription?.unsubscribe();
    this.connection?.release();
  }

  release(): Promise<ReleaseReply> {
    if (this.releasing !== undefined) return this.releasing;
    if (this.state === 'held') {
      this.state = 'released';
      this.leaseSignal?.released();
    }
    const replies = this.runs.map((run) => (run.lease === undefined ? Promise.resolve<ReleaseReply>(0) : releaseLease(run.lease)));
    // Released when every run was; otherwise what a single lock would say of the names not released.
    this.releasing = Promise.all(replies).then((all) => (all.every((r) => r === 1) ? 1 : all.includes(-1) ? -1 : 0));
    return this.releasing;
  }

  /** Ends the holds here without a release: the facade's force release frees every name in one step instead. */
  forgo(): void {
    if (this.state !== 'held') return;
    this.state = 'released';
    this.leaseSignal?.released();
    for (const run of this.runs) if (run.lease !== undefined) forgoLease(run.lease);
    this.releasing = Promise.resolve(1);
  }

  private acquireRun(index: number): void {
    const names = this.order[index];
    if (names === undefined) return this.hold();
    const base = this.settings.lock;
    let timeout = base.timeout;
    if (timeout > 0) {
      timeout = Math.ceil(this.deadline - performance.now());
      if (timeout <= 0) return this.fail(new LockTimeoutError(base.name, base.timeout));
    }
    const kind = new MultiLockKind(names, base.mode, base);
    const run: Run = { names, kind, subscription: undefined, lease: undefined };
    this.runs.push(run);
    // Each run heeds the signal itself, so that an abort errors after the clean-up it starts (a writer's mark withdrawn).
    const settings = { ...base, name: namesLabel(names), timeout, kind };
    run.subscription = lockWithSettings$(settings).subscribe({
      next: (lease) => {
        run.lease = lease;
        if (this.state === 'acquiring') this.acquireRun(index + 1);
      },
      error: (error: unknown) => this.runFailed(run, error),
    });
  }

  private hold(): void {
    const { names, lock } = this.settings;
    const fences: Record<string, number> = {};
    for (const run of this.runs) {
      const fenceOf = run.kind.made?.fences ?? [];
      run.names.forEach((name, i) => (fences[name] = fenceOf[i] ?? 0));
    }
    this.state = 'held';
    this.leaseSignal ??= new LeaseSignal(lock.name);
    const lease = new HeldMultiLease(Object.freeze([...names]), lock.prefix, lock.mode, Object.freeze(fences), lock.ttl, this);
    this.observer.next(lease);
  }

  /** A run ended: its error, said of the multi-lock (a loss names the name lost). */
  private runFailed(run: Run, error: unknown): void {
    if (this.state === 'closed') return;
    const { name, timeout } = this.settings.lock;
    if (error instanceof LockLostError) {
      const lost = run.kind.made?.lost ?? run.names[0] ?? name;
      // A run lost by one name may still hold its others: release them all.
      if (run.lease !== undefined) void releaseLease(run.lease).catch(ignore);
      const loss = new LockLostError(lost, error.reason, { cause: error });
      this.leaseSignal?.end(loss);
      this.fail(loss);
    } else if (error instanceof LockTimeoutError) {
      this.fail(new LockTimeoutError(name, timeout));
    } else {
      this.fail(error);
    }
  }

  /**
   * Closes, then errors. While acquiring, the error waits (CLEANUP_GRACE_MS
   * at most) for the names taken on the way to be released, so that on a
   * healthy Redis none is held by the time it arrives.
   */
  private fail(error: unknown): void {
    const was = this.state;
    if (was === 'closed') return;
    const releases = was === 'acquiring' ? this.runs.flatMap((run) => (run.lease ? [releaseLease(run.lease).catch(ignore)] : [])) : [];
    this.close();
    if (releases.length === 0) {
      this.observer.error(error);
      return;
    }
    const deliver = (): void => {
      clearTimeout(grace);
      if (!this.observer.closed) this.observer.error(error);
    };
    const grace = setTimeout(deliver, CLEANUP_GRACE_MS);
    void Promise.all(releases).then(deliver);
  }
}
