import { randomBytes } from 'node:crypto';
import type { Subscriber as Observer } from 'rxjs';
import {
  LockError,
  LockLostError,
  LockTimeoutError,
  RedisUnavailableError,
  ReplicationError,
  type LockLostReason,
} from '../errors';
import type { Connection } from '../redis/connection';
import { openConnection } from '../redis/connection';
import { lockKeys, type LockKeys } from '../redis/keys';
import { isConnectionProblem, withDeadline } from '../redis/deadline';
import type { AcquireReply, ReleaseReply, ScriptMode } from '../redis/lock-scripts';
import type { Lease } from './lease';
import type { LockSettings } from './options';
import { existingWaitQueue, waitQueue, type AttemptOutcome, type QueuedWaiter, type WaitQueue } from './wait-queue';

const GONE: AttemptOutcome = { kind: 'gone' };
const ACQUIRED: AttemptOutcome = { kind: 'acquired' };
/** After an attempt Redis did not answer, the next one comes this soon (until redisTimeout has passed). */
const RETRY_AFTER_TROUBLE_MS = 100;
const ignore = (): void => undefined;

const acquisitions = new WeakMap<Lease, Acquisition>();

/**
 * Releases a lease now and tells what Redis answered (RedisUnavailableError
 * after redisTimeout); the subscription stays to be closed by its owner.
 */
export function releaseLease(lease: Lease): Promise<ReleaseReply> {
  const acquisition = acquisitions.get(lease);
  if (acquisition === undefined) throw new TypeError('not a lease issued by yadl');
  return acquisition.releaseWithin();
}

/**
 * One subscription to `lock$`: one owner token that tries, waits, holds,
 * keeps its hold alive and releases it.
 */
export class Acquisition implements QueuedWaiter {
  readonly shared: boolean;
  private readonly scriptMode: ScriptMode;
  private phase: 'waiting' | 'held' | 'closed' = 'waiting';
  /** A writer that left its mark for readers to queue behind (see acquire-2.lua). */
  private queued = false;
  private withdrawing: Promise<unknown> | undefined;
  /** An attempt went unanswered, so this token may hold the lock without knowing: release it on close. */
  private uncertain = false;
  /** performance.now() of the first unanswered attempt since the last answer. */
  private unreachableSince: number | undefined;
  /** performance.now() when the attempt in flight was sent. */
  private awaitingSince: number | undefined;
  private readonly token = randomBytes(16).toString('hex');
  private connection: Connection | undefined;
  private keys: LockKeys | undefined;
  private queue: WaitQueue | undefined;
  private controller: AbortController | undefined;
  private releasing: Promise<ReleaseReply> | undefined;
  /** Redis commands in flight; the connection is let go when none is left after close. */
  private pending = 0;
  private connectionReleased = false;
  private timeoutTimer: NodeJS.Timeout | undefined;
  private renewTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** performance.now() by which the hold has surely ended in Redis. */
  private expiresAt = 0;

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
    this.stopHolding();
    this.settings.signal?.removeEventListener('abort', this.onAbort);
    this.queue?.leave(this);
    this.queue = undefined;
    if (this.queued && !wasHeld) this.withdraw();
    if (this.uncertain && !wasHeld) this.release().catch(ignore);
    if (wasHeld) {
      this.controller?.abort(new LockError(`lock '${this.settings.name}' was released`, this.settings.name));
      this.release().catch(() => undefined);
    }
    this.settle();
  }

  /** Sends the release once; later calls get the same answer. */
  release(): Promise<ReleaseReply> {
    if (this.releasing === undefined) {
      this.stopHolding();
      const { connection, keys } = this.ready();
      this.releasing = this.command(() =>
        connection.scripts.release(keys, this.token, this.scriptMode, connection.wakeChannel(keys)),
      );
    }
    return this.releasing;
  }

  releaseWithin(): Promise<ReleaseReply> {
    return withDeadline(this.release(), this.settings.redisTimeout, () => this.unavailable());
  }

  async attempt(): Promise<AttemptOutcome> {
    if (this.phase !== 'waiting') return GONE;
    const { connection, keys } = this.ready();
    const { ttl, lease, timeout, redisTimeout } = this.settings;
    const sentAt = performance.now();
    this.awaitingSince = sentAt;
    const hold = ttl > 0 ? ttl : lease;
    const sent = this.command(() => connection.scripts.acquire(keys, this.token, this.scriptMode, hold, timeout !== 0));
    let reply: AcquireReply;
    try {
      reply = await withDeadline(sent, redisTimeout, () => this.unavailable());
    } catch (error) {
      return this.unanswered(error, sent, sentAt);
    } finally {
      this.awaitingSince = undefined;
    }
    this.unreachableSince = undefined;
    this.uncertain = false;
    if (this.phase !== 'waiting') {
      // Torn down while the command was in flight: do not leak what it took.
      if (reply.acquired) this.release().catch(() => undefined);
      else if (reply.queued) this.withdraw();
      this.settle();
      return GONE;
    }
    if (!reply.acquired) {
      this.queued ||= reply.queued;
      return { kind: 'blocked', waitMs: reply.waitMs };
    }
    if (this.settings.replicas > 0 && !(await this.replicated(connection, keys))) return GONE;
    this.hold(reply.fence, sentAt);
    return ACQUIRED;
  }

  /** With `replicas`, the hold counts only once enough replicas have it; otherwise it is given back. */
  private async replicated(connection: Connection, keys: LockKeys): Promise<boolean> {
    const { replicas, replicaTimeout, name } = this.settings;
    const acknowledged = await this.command(() => connection.replicated(keys, replicas, replicaTimeout)).catch(() => -1);
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
    if (!isConnectionProblem(error) && !(error instanceof RedisUnavailableError)) {
      this.fail(error);
      return GONE;
    }
    this.uncertain = true;
    sent.then((late) => {
      if (late.acquired && this.phase === 'closed') this.release().catch(ignore);
    }, ignore);
    this.unreachableSince ??= sentAt;
    const troubledFor = performance.now() - this.unreachableSince;
    if (this.settings.timeout === 0 || troubledFor >= this.settings.redisTimeout || !isConnectionProblem(error)) {
      this.fail(error instanceof RedisUnavailableError ? error : this.unavailable(error));
      return GONE;
    }
    return { kind: 'blocked', waitMs: RETRY_AFTER_TROUBLE_MS };
  }

  /** The wait is over: a timeout, unless Redis was the one not answering. */
  private timedOut(): void {
    const { name, timeout } = this.settings;
    const now = performance.now();
    const silent = this.awaitingSince !== undefined && now - this.awaitingSince >= Math.min(1000, timeout / 2);
    this.fail(this.unreachableSince !== undefined || silent ? this.unavailable() : new LockTimeoutError(name, timeout));
  }

  private unavailable(cause?: unknown): RedisUnavailableError {
    const { connection } = this.ready();
    return new RedisUnavailableError(this.settings.name, connection.server, this.settings.redisTimeout, {
      cause: cause ?? connection.lastError,
    });
  }

  private async firstAttempt(connection: Connection, keys: LockKeys): Promise<void> {
    const marker = existingWaitQueue(connection.subscriber, keys.channel)?.marker();
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
    const { name, prefix, ttl, lease: leaseMs, mode } = this.settings;
    this.queued = false;
    clearTimeout(this.timeoutTimer);
    this.queue?.leave(this);
    this.queue = undefined;
    this.phase = 'held';
    this.controller = new AbortController();
    const lease: Lease = Object.freeze({
      name,
      prefix,
      mode,
      token: this.token,
      fence,
      signal: this.controller.signal,
      ttl,
    });
    acquisitions.set(lease, this);
    this.expiresAt = sentAt + (ttl > 0 ? ttl : leaseMs);
    this.armExpiry();
    this.scheduleRenewal(Math.floor(leaseMs / 3));
    this.observer.next(lease);
  }

  /**
   * The hold ends in Redis no earlier than `expiresAt` (its clock started
   * when Redis ran the script, after we sent it). Declaring it over a little
   * before, allowing for clock drift, tells the holder before anyone else can
   * have acquired.
   */
  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const { ttl, lease } = this.settings;
    const hold = ttl > 0 ? ttl : lease;
    const drift = Math.ceil(hold * 0.01) + 2;
    const delay = Math.max(0, this.expiresAt - drift - performance.now());
    this.expiryTimer = setTimeout(() => this.lose(ttl > 0 ? 'expired' : 'unconfirmed'), delay);
  }

  /** Renews a lease, or checks that a fixed hold still exists, every lease/3 while it is held. */
  private scheduleRenewal(delay: number): void {
    const { ttl } = this.settings;
    if (ttl > 0 && this.expiresAt - performance.now() <= delay) return;
    this.renewTimer = setTimeout(() => void this.renew(), delay);
  }

  private async renew(): Promise<void> {
    const { connection, keys } = this.ready();
    const { ttl, lease } = this.settings;
    const sentAt = performance.now();
    let left: number;
    try {
      left = await this.command(() => connection.scripts.renew(keys, this.token, this.scriptMode, ttl > 0 ? 0 : lease));
    } catch {
      // Keep trying until the expiry timer says the hold can no longer be vouched for.
      if (this.phase === 'held' && this.releasing === undefined) this.scheduleRenewal(Math.max(10, Math.floor(lease / 10)));
      return;
    }
    if (this.phase !== 'held' || this.releasing !== undefined) return;
    if (left === 0) {
      this.lose('gone');
      return;
    }
    if (ttl === 0) {
      this.expiresAt = sentAt + lease;
      this.armExpiry();
    }
    this.scheduleRenewal(Math.floor(lease / 3));
  }

  private lose(reason: LockLostReason): void {
    if (this.phase !== 'held' || this.releasing !== undefined) return;
    const error = new LockLostError(this.settings.name, reason);
    this.controller?.abort(error);
    this.fail(error);
  }

  /** Closes, then errors; a writer's mark is gone by the time its error arrives. */
  private fail(error: unknown): void {
    if (this.phase === 'closed') return;
    this.close();
    if (this.withdrawing === undefined) this.observer.error(error);
    else void this.withdrawing.then(() => this.observer.error(error));
  }

  private readonly onAbort = (): void => {
    this.fail(this.settings.signal?.reason);
  };

  /** A writer that stops waiting takes back its mark, so that readers queued behind it go ahead. */
  private withdraw(): void {
    this.queued = false;
    const { connection, keys } = this.ready();
    this.withdrawing = this.command(() => connection.scripts.withdraw(keys, this.token, connection.wakeChannel(keys))).catch(
      () => undefined, // the mark expires by itself
    );
  }

  private stopHolding(): void {
    clearTimeout(this.renewTimer);
    clearTimeout(this.expiryTimer);
    this.renewTimer = undefined;
    this.expiryTimer = undefined;
  }

  private async command<T>(send: () => Promise<T>): Promise<T> {
    this.pending += 1;
    try {
      return await send();
    } finally {
      this.pending -= 1;
      this.settle();
    }
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
