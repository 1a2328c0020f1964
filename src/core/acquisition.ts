import type { Subscriber as Observer } from 'rxjs';
import { LockError, LockLostError, LockTimeoutError, RedisUnavailableError, ReplicationError } from '../errors';
import type { LockLostReason } from '../errors';
import type { Connection } from '../redis/connection';
import { openConnection } from '../redis/connection';
import { isConnectionProblem } from '../redis/deadline';
import { lockKeys, type LockKeys } from '../redis/keys';
import type { AcquireReply, ReleaseReply, ScriptMode } from '../redis/lock-scripts';
import { HoldKeeper } from './hold-keeper';
import type { Lease } from './lease';
import type { LockSettings } from './options';
import { ownerToken } from './owner-token';
import { existingWaitQueue, waitQueue, type AttemptOutcome, type QueuedWaiter, type WaitQueue } from './wait-queue';

const GONE: AttemptOutcome = { kind: 'gone' };
const ACQUIRED: AttemptOutcome = { kind: 'acquired' };
/** After an attempt Redis did not answer, the next one comes this soon (until redisTimeout has passed). */
const RETRY_AFTER_TROUBLE_MS = 100;
const ignore = (): void => undefined;

/** The Lease of one hold: a plain frozen object to its reader, tied to its acquisition inside. */
class HeldLease implements Lease {
  readonly #acquisition: Acquisition;

  constructor(
    readonly name: string,
    readonly prefix: string,
    readonly mode: Lease['mode'],
    readonly token: string,
    readonly fence: number,
    readonly ttl: number,
    acquisition: Acquisition,
  ) {
    this.#acquisition = acquisition;
    Object.freeze(this);
  }

  get signal(): AbortSignal {
    return this.#acquisition.signal();
  }

  static acquisitionOf(lease: Lease): Acquisition | undefined {
    return lease instanceof HeldLease ? lease.#acquisition : undefined;
  }
}

/**
 * Releases a lease now and tells what Redis answered (RedisUnavailableError
 * after redisTimeout); the subscription stays to be closed by its owner.
 */
export function releaseLease(lease: Lease): Promise<ReleaseReply> {
  const acquisition = HeldLease.acquisitionOf(lease);
  if (acquisition === undefined) throw new TypeError('not a lease issued by yadl');
  return acquisition.release();
}

/**
 * One subscription to `lock$`: one owner token that tries, waits, holds
 * (a HoldKeeper keeps the hold alive) and releases.
 */
export class Acquisition implements QueuedWaiter {
  readonly shared: boolean;
  private readonly scriptMode: ScriptMode;
  private readonly token = ownerToken();
  private phase: 'waiting' | 'held' | 'closed' = 'waiting';
  private connection: Connection | undefined;
  private keys: LockKeys | undefined;
  private queue: WaitQueue | undefined;
  private keeper: HoldKeeper | undefined;
  /** The lease's signal, made when first read (most holders never read it). */
  private controller: AbortController | undefined;
  private endReason: unknown;
  private releasing: Promise<ReleaseReply> | undefined;
  /** A writer that left its mark for readers to queue behind (see acquire-2.lua). */
  private queued = false;
  private withdrawing: Promise<unknown> | undefined;
  /** An attempt went unanswered, so this token may hold the lock without knowing: release it on close. */
  private uncertain = false;
  /** performance.now() of the first unanswered attempt since the last answer. */
  private unreachableSince: number | undefined;
  private attemptInFlight = false;
  /** Settles once the attempt in flight has been handled (a late mark withdrawn, a late hold released). */
  private attemptHandled: Promise<unknown> = Promise.resolve();
  /** Redis commands in flight (and not yet past redisTimeout); the connection is let go when none is left after close. */
  private pending = 0;
  private connectionReleased = false;
  private timeoutTimer: NodeJS.Timeout | undefined;

  constructor(
    private readonly settings: LockSettings,
    private readonly observer: Observer<Lease>,
  ) {
    this.shared = settings.mode === 'read';
    this.scriptMode = this.shared ? 'r' : 'w';
  }

  start(): void {
    const { signal, timeout, name, prefix, redis } = this.settings;
    if (signal?.aborted) {
      this.phase = 'closed';
      this.observer.error(signal.reason);
      return;
    }
    const connection = openConnection(redis);
    this.connection = connection;
    this.keys = lockKeys(prefix, name, connection.db, connection.keyPrefix);
    signal?.addEventListener('abort', this.onAbort);
    if (timeout > 0) this.timeoutTimer = setTimeout(() => this.timedOut(), timeout);
    void this.firstAttempt(connection, this.keys);
  }

  /** Teardown: leaves the queue, or releases the hold. Idempotent. */
  close(): void {
    if (this.phase === 'closed') return;
    const wasHeld = this.phase === 'held';
    this.phase = 'closed';
    clearTimeout(this.timeoutTimer);
    this.keeper?.stop();
    this.settings.signal?.removeEventListener('abort', this.onAbort);
    this.queue?.leave(this);
    this.queue = undefined;
    if (this.queued && !wasHeld) this.withdraw();
    if (wasHeld && this.endReason === undefined) this.endHold(RELEASED);
    if (wasHeld || this.uncertain) this.release().catch(ignore);
    this.settle();
  }

  /**
   * Sends the release once; later calls get the same answer. Waiters of the
   * same lock in this process are woken as soon as Redis answers.
   */
  release(): Promise<ReleaseReply> {
    if (this.releasing === undefined) {
      this.keeper?.stop();
      const { connection, keys } = this.ready();
      const localQueue = existingWaitQueue(connection.existingSubscriber, keys.channel);
      const releaseId = localQueue === undefined ? '' : nextReleaseId();
      const wake = connection.wakeChannel(keys, releaseId);
      this.releasing = this.command(() => connection.scripts.release(keys, this.token, this.scriptMode, wake));
      localQueue?.releasing(releaseId, this.releasing);
    }
    return this.releasing;
  }

  /** Redis is out of reach (another waiter found out): stop waiting. */
  abandon(error: RedisUnavailableError): void {
    this.fail(error);
  }

  attempt(): Promise<AttemptOutcome> {
    const outcome = this.attemptOnce();
    this.attemptHandled = outcome.then(ignore, ignore);
    return outcome;
  }

  private async attemptOnce(): Promise<AttemptOutcome> {
    if (this.phase !== 'waiting') return GONE;
    const { connection, keys } = this.ready();
    const { ttl, lease, timeout } = this.settings;
    const sentAt = performance.now();
    const hold = ttl > 0 ? ttl : lease;
    const sent = this.command(() => connection.scripts.acquire(keys, this.token, this.scriptMode, hold, timeout !== 0));
    let reply: AcquireReply;
    this.attemptInFlight = true;
    try {
      reply = await sent;
    } catch (error) {
      return this.unanswered(error, sent, sentAt);
    } finally {
      this.attemptInFlight = false;
    }
    this.unreachableSince = undefined;
    this.uncertain = false;
    if (this.phase !== 'waiting') {
      // Torn down while the command was in flight: do not leak what it took.
      if (reply.acquired) this.release().catch(ignore);
      else if (reply.queued) this.withdraw();
      return GONE;
    }
    if (!reply.acquired) {
      this.queued ||= reply.queued;
      return { kind: 'blocked', waitMs: reply.waitMs, behindWriter: reply.behindWriter };
    }
    if (this.settings.replicas > 0 && !(await this.replicated(connection, keys))) return GONE;
    this.hold(reply.fence, sentAt);
    return ACQUIRED;
  }

  /** With `replicas`, the hold counts only once enough replicas have it; otherwise it is given back. */
  private async replicated(connection: Connection, keys: LockKeys): Promise<boolean> {
    const { replicas, replicaTimeout, name } = this.settings;
    const acknowledged = await this.command(() =>
      connection.replicated(keys, {
        token: this.token,
        mode: this.scriptMode,
        replicas,
        timeout: replicaTimeout,
        redisTimeout: this.settings.redisTimeout,
      }),
    ).catch(() => -1);
    if (this.phase === 'waiting' && acknowledged >= replicas) return true;
    this.uncertain = true; // held in Redis but not by us: release on close
    if (this.phase === 'waiting') this.fail(new ReplicationError(name, replicas, acknowledged));
    else this.release().catch(ignore);
    return false;
  }

  /**
   * An attempt that got no answer may still have run. It is idempotent, so
   * retry it while redisTimeout allows; a late answer that it acquired, once
   * this acquisition is closed, is given back.
   */
  private unanswered(error: unknown, sent: Promise<AcquireReply>, sentAt: number): AttemptOutcome {
    const unreachable = isConnectionProblem(error) || error instanceof RedisUnavailableError;
    if (!unreachable) {
      this.fail(error);
      return { kind: 'gone', error };
    }
    this.uncertain = true;
    sent.then((late) => {
      if (late.acquired && this.phase === 'closed') this.release().catch(ignore);
    }, ignore);
    this.unreachableSince ??= sentAt;
    const troubledFor = performance.now() - this.unreachableSince;
    if (this.settings.timeout === 0 || troubledFor >= this.settings.redisTimeout || error instanceof RedisUnavailableError) {
      const unavailable = error instanceof RedisUnavailableError ? error : this.unavailable(error, troubledFor);
      this.fail(unavailable);
      return { kind: 'gone', error: unavailable };
    }
    return { kind: 'blocked', waitMs: RETRY_AFTER_TROUBLE_MS, behindWriter: false };
  }

  /** The wait is over: a timeout, unless Redis is the one not answering. */
  private timedOut(): void {
    const { name, timeout } = this.settings;
    const { connection } = this.ready();
    const status = connection.client.status;
    // Still connecting is not unreachable; failing to connect is.
    const down =
      status === 'reconnecting' || status === 'end' || status === 'close' || (status !== 'ready' && connection.lastError !== undefined);
    const unreachable = this.unreachableSince !== undefined || (this.attemptInFlight && down);
    this.fail(unreachable ? this.unavailable(undefined, timeout) : new LockTimeoutError(name, timeout));
  }

  private unavailable(cause?: unknown, waited = this.settings.redisTimeout): RedisUnavailableError {
    const { connection } = this.ready();
    return new RedisUnavailableError(this.settings.name, connection.server, this.settings.redisTimeout, {
      cause: cause ?? connection.lastError,
      waited: Math.round(waited),
    });
  }

  private async firstAttempt(connection: Connection, keys: LockKeys): Promise<void> {
    const marker = existingWaitQueue(connection.existingSubscriber, keys.channel)?.marker();
    const outcome = await this.attempt();
    if (outcome.kind !== 'blocked') return;
    if (this.settings.timeout === 0) {
      this.fail(new LockTimeoutError(this.settings.name, 0));
      return;
    }
    this.queue = waitQueue(connection.subscriber, keys.channel);
    this.queue.join(this, marker, outcome.waitMs);
  }

  private hold(fence: number, sentAt: number): void {
    const { name, prefix, ttl, mode } = this.settings;
    const { connection, keys } = this.ready();
    this.queued = false;
    clearTimeout(this.timeoutTimer);
    this.queue?.leave(this);
    this.queue = undefined;
    this.phase = 'held';
    const lease = new HeldLease(name, prefix, mode, this.token, fence, ttl, this);
    this.keeper = new HoldKeeper(
      this.settings,
      (holdMs) => this.command(() => connection.scripts.renew(keys, this.token, this.scriptMode, holdMs)),
      (reason) => this.lose(reason),
    );
    this.keeper.start(sentAt);
    this.observer.next(lease);
  }

  private lose(reason: LockLostReason): void {
    if (this.phase !== 'held' || this.releasing !== undefined) return;
    // A ttl that ran out frees the lock by itself, at the ttl: no early release.
    if (reason === 'expired') this.releasing = Promise.resolve(0);
    const error = new LockLostError(this.settings.name, reason);
    this.endHold(error);
    this.fail(error);
  }

  /** The lease's signal; made on first read, as most holders never read it. */
  signal(): AbortSignal {
    if (this.controller === undefined) {
      this.controller = new AbortController();
      if (this.endReason !== undefined) this.controller.abort(this.reason());
    }
    return this.controller.signal;
  }

  /** Aborts the lease's signal (now, or when it is first read). */
  private endHold(reason: unknown): void {
    this.endReason = reason;
    if (this.controller !== undefined) this.controller.abort(this.reason());
  }

  private reason(): unknown {
    if (this.endReason === RELEASED) this.endReason = releasedReason(this.settings.name);
    return this.endReason;
  }

  /**
   * Closes, then errors. A writer's mark is gone by the time its error
   * arrives, also one that the attempt in flight is still leaving.
   */
  private fail(error: unknown): void {
    if (this.phase === 'closed') return;
    const inFlight = this.attemptInFlight;
    this.close();
    if (!inFlight && this.withdrawing === undefined) {
      this.observer.error(error);
      return;
    }
    void this.attemptHandled.then(() => this.withdrawing).then(() => this.observer.error(error));
  }

  private readonly onAbort = (): void => {
    this.fail(this.settings.signal?.reason);
  };

  /** A writer that stops waiting takes back its mark, so that readers queued behind it go ahead. */
  private withdraw(): void {
    this.queued = false;
    const { connection, keys } = this.ready();
    const wake = connection.wakeChannel(keys);
    // If it fails, the mark expires by itself.
    this.withdrawing = this.command(() => connection.scripts.withdraw(keys, this.token, wake)).catch(ignore);
  }

  /**
   * Sends one command, counted as pending until it settles or redisTimeout
   * passes; then it rejects with RedisUnavailableError, and no longer keeps
   * the connection from closing (ioredis may still send it later).
   */
  private command<T>(send: () => Promise<T>): Promise<T> {
    this.pending += 1;
    let counted = true;
    const uncount = (): void => {
      if (!counted) return;
      counted = false;
      this.pending -= 1;
      this.settle();
    };
    const answered = this.ready().connection.deadlines.watch(send(), this.settings.redisTimeout, () => this.unavailable());
    answered.then(uncount, uncount);
    return answered;
  }

  /** Lets the connection go once closed with nothing in flight. */
  private settle(): void {
    if (this.phase !== 'closed' || this.pending > 0 || this.connectionReleased || this.connection === undefined) return;
    // A reply that arrives after close may still need a release; give it this turn to start one.
    setImmediate(() => {
      if (this.pending > 0 || this.connectionReleased) return;
      this.connectionReleased = true;
      this.connection?.release();
    });
  }

  private ready(): { connection: Connection; keys: LockKeys } {
    if (this.connection === undefined || this.keys === undefined) throw new Error('acquisition not started');
    return { connection: this.connection, keys: this.keys };
  }
}

/** Stands for the released reason until someone reads the signal. */
const RELEASED = Symbol('released');

/** The abort reason of a released lease; no stack, since nothing went wrong. */
function releasedReason(name: string): LockError {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  try {
    return new LockError(`lock '${name}' was released`, name);
  } finally {
    Error.stackTraceLimit = limit;
  }
}

const releaseTag = ownerToken().slice(0, 8);
let releaseCount = 0;

/** Unique in this process, and between processes with overwhelming likelihood. */
function nextReleaseId(): string {
  releaseCount += 1;
  return `${releaseTag}.${releaseCount.toString(36)}`;
}
