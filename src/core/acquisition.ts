import { LockError, LockLostError, LockTimeoutError, PermitsRangeError, RedisUnavailableError, ReplicationError } from '../errors';
import type { LockLostReason } from '../errors';
import type { Connection } from '../redis/connection';
import { openConnection } from '../redis/connection';
import { isConnectionProblem, isTransient } from '../redis/deadline';
import type { AcquireReply, HoldTarget, ReleaseReply } from '../redis/hold-kind';
import { acquireFailed, acquireGranted, acquireLeft, acquireStarted, holdLost, holdReleased, type AcquireContext } from '../observability/channels';
import { debugAttempt, debugTrouble } from '../observability/debug';
import { HeldLease, type LeaseHolder } from './held-lease';
import { HoldKeeper } from './hold-keeper';
import type { Lease } from './lease';
import { LeaseSignal } from './lease-signal';
import type { LockSettings } from './options';
import { ownerToken } from './owner-token';
import { PendingWork } from './pending-work';
import { nextReleaseId } from './release-id';
import { renewalBatcher } from './renewal-batcher';
import { timerDelay } from './timers';
import { existingWaitQueue, waitQueue, type AttemptOutcome, type QueuedWaiter, type WaitQueue } from './wait-queue';

const GONE: AttemptOutcome = { kind: 'gone' };
/** After an attempt Redis did not answer (or answered BUSY...), the next one comes this soon, until redisTimeout has passed. */
const RETRY_AFTER_TROUBLE_MS = 100;
/**
 * An error waits this long at most for the clean-up it started (a late hold
 * released, a writer's mark withdrawn), so that on a healthy Redis the
 * clean-up is done by the time the error arrives, and on a stalled one the
 * error still arrives on time.
 */
const CLEANUP_GRACE_MS = 25;
const ignore = (): void => undefined;

/**
 * Where one subscription stands. Every transition names the states it may
 * leave; an event that finds another state (a reply after close, a timeout
 * after the grant) is handled as what it is, never as a transition.
 *
 *   new ─▶ first-attempt ─┬─▶ held ─▶ released
 *                         └─▶ queued ◀─▶ attempting ─▶ held
 *   every state ─▶ closed (unsubscribe, timeout, signal, loss, failure)
 *
 * - first-attempt: the attempt made on subscribe is in flight; not queued.
 * - queued: in this process's wait queue for the lock, nothing in flight.
 * - attempting: the queue's attempt for this waiter is in flight.
 * - held: emitted its lease; a HoldKeeper renews it.
 * - released: its owner released it (or forwent it for a force release);
 *   the subscription waits to be closed.
 * - closed: tells the observer nothing more; clean-up may still be under way.
 */
type State = 'new' | 'first-attempt' | 'queued' | 'attempting' | 'held' | 'released' | 'closed';

/**
 * Whom an acquisition tells of its lease or its error: the rxjs Subscriber
 * of a `lock$` subscription, or the facade's own (no Observable between).
 * `closed`: it takes nothing more (unsubscribed, or already errored).
 */
export interface AcquisitionObserver {
  readonly closed: boolean;
  next(lease: Lease): void;
  error(error: unknown): void;
}

/**
 * One subscription to `lock$`: one owner token that tries, waits, holds
 * (a HoldKeeper keeps the hold alive) and releases.
 */
export class Acquisition implements QueuedWaiter, LeaseHolder {
  readonly shared: boolean;
  private state: State = 'new';
  private readonly token = ownerToken();
  private connection!: Connection;
  private target!: HoldTarget;
  private work!: PendingWork;
  private queue: WaitQueue | undefined;
  private keeper: HoldKeeper | undefined;
  /** The held lease's signal: made at the grant, as waiters (thousands of them) never need one. */
  private leaseSignal: LeaseSignal | undefined;
  private timeoutTimer: NodeJS.Timeout | undefined;
  /** The one release of this token, owner's or clean-up's; later calls get its answer. */
  private releasing: Promise<ReleaseReply> | undefined;
  /** How a held lease was lost, if it was: decides whether closing still releases it. */
  private lostBy: LockLostReason | undefined;
  /** Left something to take back when giving up (a writer's mark, a ticket in the fair line). */
  private marked = false;
  /** Its ticket in the fair line, once it has one. */
  ticket: { readonly seq: number; readonly token: string } | undefined;
  /** An attempt went unanswered and may have taken the lock: release by token on close. */
  private mayHold = false;
  /** performance.now() of the first unanswered or refused attempt since the last answer. */
  private troubleSince: number | undefined;
  /** What that trouble was (a closed connection, a BUSY reply...), for the error that ends the wait. */
  private lastTrouble: unknown;
  /** This acquisition on the yadl:acquire channel, if anyone listened when it started. */
  private trace: AcquireContext | undefined;
  /** For yadl:release and yadl:lost, whoever subscribes while it is held. */
  private heldFence = 0;
  private heldSince = 0;

  constructor(
    private readonly settings: LockSettings,
    private readonly observer: AcquisitionObserver,
  ) {
    this.shared = settings.kind.shared;
  }

  start(): void {
    if (this.state !== 'new') return;
    const { signal, timeout, name, prefix, redis, redisTimeout } = this.settings;
    if (signal?.aborted) {
      this.state = 'closed';
      this.observer.error(signal.reason);
      return;
    }
    this.connection = openConnection(redis);
    this.target = this.settings.kind.target(this.connection, prefix, name);
    this.work = new PendingWork(this.connection, redisTimeout, this);
    // The acquisition itself listens (handleEvent): no closure per acquisition.
    signal?.addEventListener('abort', this);
    if (timeout > 0) this.timeoutTimer = setTimeout(() => this.timedOut(), timerDelay(timeout));
    this.trace = acquireStarted(this.settings);
    this.state = 'first-attempt';
    void this.firstAttempt();
  }

  get signal(): AbortSignal {
    this.leaseSignal ??= new LeaseSignal(this.settings.name);
    return this.leaseSignal.signal;
  }

  /** Teardown: leaves the queue, or releases the hold. Idempotent. */
  close(): void {
    const was = this.state;
    if (was === 'closed' || was === 'new') {
      this.state = 'closed';
      return;
    }
    this.state = 'closed';
    acquireLeft(this.trace);
    clearTimeout(this.timeoutTimer);
    this.keeper?.stop();
    this.settings.signal?.removeEventListener('abort', this);
    this.queue?.leave(this);
    this.queue = undefined;
    if (was === 'held') {
      if (this.lostBy === undefined) holdReleased(this.settings, this.heldFence, this.heldSince);
      this.leaseSignal?.released();
      // A ttl that ran out frees the lock by itself; a hold Redis says is gone has nothing to release.
      if (this.lostBy !== 'expired' && this.lostBy !== 'gone') void this.release().catch(ignore);
    } else if (was !== 'released') {
      // Sent after any attempt in flight, so Redis runs them after it.
      this.withdraw();
      if (this.mayHold) void this.release().catch(ignore);
    }
    this.work.finish();
  }

  /**
   * Sends the release once, retrying what Redis could not take yet until
   * redisTimeout; later calls get the same answer. Waiters of the same lock
   * in this process are woken as soon as Redis answers.
   */
  release(): Promise<ReleaseReply> {
    if (this.releasing !== undefined) return this.releasing;
    if (this.state === 'held') {
      this.state = 'released';
      holdReleased(this.settings, this.heldFence, this.heldSince);
      this.keeper?.stop();
      this.leaseSignal?.released();
    }
    const { connection, target } = this;
    const localQueue = existingWaitQueue(connection.existingSubscriber, target.channel);
    const releaseId = localQueue === undefined ? '' : nextReleaseId();
    this.releasing = this.work.track(this.retried(() => this.work.send(() => target.release(this.token, releaseId))));
    localQueue?.releasing(releaseId, this.releasing);
    return this.releasing;
  }

  /** Ends the hold now if its time is up (see HoldKeeper#check). */
  checkHold(): void {
    if (this.state === 'held') this.keeper?.check();
  }

  /** Ends the hold without a release: its owner frees the lock for everyone in one step instead. */
  forgo(): void {
    if (this.state !== 'held') return;
    this.state = 'released';
    holdReleased(this.settings, this.heldFence, this.heldSince);
    this.keeper?.stop();
    this.leaseSignal?.released();
    this.releasing = Promise.resolve(1);
  }

  /** Redis is out of reach (another waiter found out): stop waiting. */
  abandon(error: RedisUnavailableError): void {
    if (this.state === 'queued' || this.state === 'attempting') this.fail(error);
  }

  /** The queue's attempt for this waiter, keeping its companions' places in the fair line too. */
  async attempt(companions: readonly string[]): Promise<AttemptOutcome> {
    if (this.state !== 'queued') return GONE;
    this.state = 'attempting';
    const outcome = await this.attemptOnce(companions);
    if (outcome.kind !== 'blocked') return outcome;
    if (this.state !== 'attempting') return GONE;
    this.state = 'queued';
    return outcome;
  }

  private async firstAttempt(): Promise<void> {
    const { connection, target } = this;
    const marker = existingWaitQueue(connection.existingSubscriber, target.channel)?.marker();
    const outcome = await this.attemptOnce([]);
    if (outcome.kind !== 'blocked' || this.state !== 'first-attempt') return;
    if (this.settings.timeout === 0) {
      this.fail(new LockTimeoutError(this.settings.name, 0));
      return;
    }
    this.state = 'queued';
    const subscriber = connection.subscriber(this.settings.keyspaceEvents);
    this.queue = waitQueue(target.notifications?.(subscriber) ?? subscriber, target.channel);
    this.queue.join(this, marker, outcome.waitMs);
  }

  /** One acquire script, from first-attempt or attempting; leaves them only for held or closed. */
  private async attemptOnce(companions: readonly string[]): Promise<AttemptOutcome> {
    const { target } = this;
    const { ttl, lease, timeout } = this.settings;
    const hold = ttl > 0 ? ttl : lease;
    const sentAt = performance.now();
    let reply: AcquireReply;
    try {
      reply = await this.work.send(() => target.acquire(this.token, hold, timeout !== 0, companions));
    } catch (error) {
      return this.unanswered(error, sentAt);
    }
    debugAttempt(this.settings, reply);
    this.troubleSince = undefined;
    this.lastTrouble = undefined;
    if (this.state === 'closed') {
      // Closed while the attempt was in flight: do not leak what it took.
      if (reply.acquired) void this.release().catch(ignore);
      else if (reply.queued) {
        this.marked = true;
        this.withdraw();
      }
      return GONE;
    }
    if (!reply.acquired) {
      this.marked ||= reply.queued;
      if (reply.ticket > 0 && this.ticket?.seq !== reply.ticket) this.ticket = { seq: reply.ticket, token: this.token };
      // A marked writer retries within a third of its hold, which refreshes its mark.
      const marking = reply.queued && reply.ticket === 0;
      const waitMs = marking ? Math.min(reply.waitMs, Math.max(1, Math.floor(hold / 3))) : reply.waitMs;
      return { kind: 'blocked', waitMs, behindWriter: reply.behindWriter, passOn: reply.passOn };
    }
    if (this.settings.replicas > 0 && !(await this.replicated())) return GONE;
    if (this.state !== 'first-attempt' && this.state !== 'attempting') return GONE;
    this.hold(reply.fence, sentAt, reply.leftMs);
    return { kind: 'acquired', holdMs: reply.leftMs };
  }

  /** With `replicas`, the hold counts only once enough replicas have it; otherwise it is given back. */
  private async replicated(): Promise<boolean> {
    const { connection, target } = this;
    const { replicas, replicaTimeout, name } = this.settings;
    const acknowledged = await this.work
      .send(() =>
        connection.replicated({
          name,
          slotKey: target.slotKey,
          confirm: (client, asking) => target.confirm(client, this.token, asking),
          replicas,
          timeout: replicaTimeout,
          redisTimeout: this.settings.redisTimeout,
        }),
      )
      .catch(() => -1);
    if (this.state === 'closed') {
      void this.release().catch(ignore);
      return false;
    }
    if (acknowledged >= replicas) return true;
    this.mayHold = true; // held in Redis but not by us: released on close
    this.fail(new ReplicationError(name, replicas, acknowledged));
    return false;
  }

  /**
   * An attempt without a definite answer. Unanswered, it may still have run:
   * it is idempotent, so it is retried while redisTimeout allows, and the
   * token is released on close. Refused for now (BUSY, LOADING...), it did
   * not run, and is retried the same way.
   */
  private unanswered(error: unknown, sentAt: number): AttemptOutcome {
    if (!isTransient(error) && !(error instanceof RedisUnavailableError)) {
      const failure = asLockError(error, this.settings.name);
      this.fail(failure);
      return { kind: 'gone', error: failure };
    }
    if (isConnectionProblem(error) || error instanceof RedisUnavailableError) this.mayHold = true;
    if (this.state === 'closed') {
      if (this.mayHold) void this.release().catch(ignore);
      return GONE;
    }
    this.troubleSince ??= sentAt;
    if (!(error instanceof RedisUnavailableError)) this.lastTrouble = error;
    debugTrouble(this.settings, 'attempt', error);
    const troubledFor = performance.now() - this.troubleSince;
    if (this.settings.timeout === 0 || troubledFor >= this.settings.redisTimeout || error instanceof RedisUnavailableError) {
      const unavailable = error instanceof RedisUnavailableError ? error : this.unavailable(troubledFor);
      this.fail(unavailable);
      return { kind: 'gone', error: unavailable };
    }
    return { kind: 'blocked', waitMs: RETRY_AFTER_TROUBLE_MS, behindWriter: false };
  }

  /** The wait is over: a timeout, unless Redis is the one not answering. */
  private timedOut(): void {
    if (this.state !== 'first-attempt' && this.state !== 'queued' && this.state !== 'attempting') return;
    const { name, timeout } = this.settings;
    const status = this.connection.client.status;
    // Still connecting is not unreachable; failing to connect is.
    const down =
      status === 'reconnecting' ||
      status === 'end' ||
      status === 'close' ||
      (status !== 'ready' && this.connection.lastError !== undefined);
    const inFlight = this.state !== 'queued';
    const unreachable = this.troubleSince !== undefined || (inFlight && down);
    this.fail(unreachable ? this.unavailable(timeout) : new LockTimeoutError(name, timeout));
  }

  /** The error for Redis out of reach (PendingWork's, past a command's deadline). */
  unavailable(waited = this.settings.redisTimeout, trouble = this.lastTrouble): RedisUnavailableError {
    return new RedisUnavailableError(this.settings.name, this.connection.server, this.settings.redisTimeout, {
      cause: trouble ?? this.connection.lastError,
      waited: Math.round(waited),
    });
  }

  private hold(fence: number, sentAt: number, leftMs: number): void {
    const { name, prefix, ttl, mode } = this.settings;
    const { target } = this;
    this.state = 'held';
    this.leaseSignal = new LeaseSignal(name);
    acquireGranted(this.trace, fence);
    this.heldFence = fence;
    this.heldSince = performance.now();
    this.marked = false;
    this.ticket = undefined;
    this.mayHold = false;
    clearTimeout(this.timeoutTimer);
    // The queue drops this waiter itself once the attempt returns.
    this.queue = undefined;
    const lease = new HeldLease(name, prefix, mode, this.token, fence, ttl, this);
    // Kinds that renew many holds in one script renew with the connection's other holds (renewal-batcher.ts).
    const batch = renewalBatcher(this.connection, target);
    this.keeper = new HoldKeeper(
      this.settings,
      (holdMs) => this.work.send(() => (batch ? batch.renew(target, this.token, holdMs) : target.renew(this.token, holdMs))),
      (reason) => this.lose(reason),
      batch,
    );
    this.keeper.start(sentAt, leftMs);
    this.observer.next(lease);
  }

  private lose(reason: LockLostReason): void {
    if (this.state !== 'held') return;
    this.lostBy = reason;
    holdLost(this.settings, this.heldFence, reason, this.heldSince);
    const error = new LockLostError(this.settings.name, reason);
    this.leaseSignal?.end(error);
    this.fail(error);
  }

  /**
   * Closes, then errors. The clean-up that closing a wait started (a late
   * hold released, a writer's mark withdrawn) is done by the time the error
   * arrives, unless Redis takes longer than CLEANUP_GRACE_MS: the error is
   * not held back for it. A hold that ends errors at once.
   */
  private fail(error: unknown): void {
    const was = this.state;
    if (was === 'closed') return;
    acquireFailed(this.trace, error);
    this.close();
    if (was === 'held' || was === 'released' || !this.work.busy) {
      this.observer.error(error);
      return;
    }
    const deliver = (): void => {
      clearTimeout(grace);
      if (this.observer.closed) return;
      this.observer.error(error);
    };
    const grace = setTimeout(deliver, CLEANUP_GRACE_MS);
    void this.work.idle().then(deliver);
  }

  /** The abort of `settings.signal` (an EventListener object: see start). */
  handleEvent(): void {
    this.fail(this.settings.signal?.reason);
  }

  /** A writer that stops waiting takes back its mark, so that readers queued behind it go ahead. */
  private withdraw(): void {
    if (!this.marked) return;
    this.marked = false;
    const { target } = this;
    // If it fails, the mark expires by itself within one hold.
    this.work.send(() => target.withdraw(this.token)).catch(ignore);
  }

  /** Runs `once` again after transient trouble, until it answers or redisTimeout has passed. */
  private async retried<T>(once: () => Promise<T>): Promise<T> {
    const until = performance.now() + this.settings.redisTimeout;
    for (;;) {
      try {
        return await once();
      } catch (error) {
        // A client closed for good (its owner quit it) will not come back: no point waiting for it.
        const closedForGood = this.connection.client.status === 'end';
        if (!isTransient(error) || closedForGood || performance.now() + RETRY_AFTER_TROUBLE_MS >= until) {
          if (error instanceof LockError) throw error;
          throw isTransient(error) ? this.unavailable(this.settings.redisTimeout, error) : asLockError(error, this.settings.name);
        }
        await new Promise((resolve) => setTimeout(resolve, RETRY_AFTER_TROUBLE_MS));
      }
    }
  }
}

/** yadl never surfaces a raw client error: anything unexpected becomes a LockError with the cause. */
function asLockError(error: unknown, name: string): LockError | RangeError {
  if (error instanceof LockError) return error;
  // A kind's verdict on the request once Redis' state is read (a semaphore's permits above its stored limit).
  if (error instanceof PermitsRangeError) return error;
  const message = error instanceof Error ? error.message : String(error);
  return new LockError(`lock '${name}': unexpected error from Redis: ${message}`, name, { cause: error });
}
