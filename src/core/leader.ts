import { Observable, type Subscriber as Observer } from 'rxjs';
import { LockError, RedisUnavailableError } from '../errors';
import { openConnection, type Connection } from '../redis/connection';
import { isTransient } from '../redis/deadline';
import { electionTarget, type ElectionTarget, type LeaderReading } from '../redis/kinds/election-kind';
import type { Listening } from '../redis/subscriber';
import { resolveLeaderOptions, type LeaderOptions, type LeaderSettings } from './election-options';
import type { Leader } from './term';
import { timerDelay } from './timers';

/** After a read Redis did not answer (or answered BUSY...), the next comes this soon, until redisTimeout has passed. */
const RETRY_AFTER_TROUBLE_MS = 100;
const TERM = 'term:';
const END = 'end:';
/** Redis' own events for the state key: the leader's lease ran out (or memory pressure took it). */
const GONE_EVENTS = new Set(['expired', 'evicted']);

/**
 * Who leads the election `name`, as an Observable: the current leader (or
 * null) on subscribe, then every change, in fence order, never the same term
 * twice: a new term, a new value proclaimed in one (same fence), the end of
 * a term (null). Needs no candidacy.
 *
 * It listens on the election's keyspace channel, where each term and each
 * proclaim is announced with its value and each resignation by its fence,
 * so it sees every term that begins while it listens, however short. It
 * reads the election only when it subscribes (or resubscribes after a
 * reconnect), when Redis reports the state key expired, and at the current
 * leader's expiry (a backstop for late or disabled expiry events): the
 * commands of a waiting lock, nothing while the leadership does not change.
 *
 * Errors: TypeError/RangeError here for bad options; RedisUnavailableError
 * when Redis does not answer a read within `redisTimeout`; a LockError (with
 * the cause) when Redis refuses one.
 */
export function leader$(name: string, options?: LeaderOptions): Observable<Leader | null> {
  const settings = resolveLeaderOptions(name, options);
  return new Observable<Leader | null>((observer) => {
    const watch = new LeaderWatch(settings, observer);
    watch.start();
    return () => watch.close();
  });
}

interface Seen {
  readonly fence: number;
  /** The term's proclaims so far: orders values within one term. */
  readonly rev: number;
  readonly value: string;
}

/**
 * One subscription to `leader$`. What it has emitted is ordered by
 * (fence, rev), and a term once ended never comes back: reads (on the data
 * connection) and announcements (on the subscriber connection) may arrive
 * in either order, and the older of the two is dropped.
 */
class LeaderWatch {
  private connection!: Connection;
  private target!: ElectionTarget;
  private listening: Listening | undefined;
  private closed = false;
  /** Anything emitted yet: the first read emits null when nothing did. */
  private emitted = false;
  private current: Seen | null = null;
  /** The highest fence known to be over. */
  private endedFence = 0;
  private reading = false;
  private readAgain = false;
  private deadline: NodeJS.Timeout | undefined;
  private retryTimer: NodeJS.Timeout | undefined;
  /** performance.now() of the first unanswered read since the last answer. */
  private troubleSince: number | undefined;

  constructor(
    private readonly settings: LeaderSettings,
    private readonly observer: Observer<Leader | null>,
  ) {}

  start(): void {
    const { redis, prefix, name, keyspaceEvents } = this.settings;
    this.connection = openConnection(redis);
    const { connection } = this;
    this.target = electionTarget(connection.client, connection.db, connection.keyPrefix, prefix, name);
    // Subscribed first, read next: nothing that happens in between is missed.
    const listening = connection.subscriber(keyspaceEvents).listen(this.target.channel, {
      message: (event) => this.onMessage(event),
      resubscribed: () => this.read(),
      // Redis may be gone: a read finds out within redisTimeout.
      connectionLost: () => this.read(),
    });
    this.listening = listening;
    void listening.ready.then(() => this.read());
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    clearTimeout(this.deadline);
    clearTimeout(this.retryTimer);
    this.listening?.close();
    this.connection.release();
  }

  private onMessage(event: string): void {
    if (this.closed) return;
    if (event.startsWith(TERM)) {
      const [fence, rev, leftMs] = event.slice(TERM.length).split(':', 3).map(Number);
      const value = event.slice(TERM.length).split(':').slice(3).join(':');
      if (fence === undefined || rev === undefined || leftMs === undefined || !Number.isFinite(fence + rev + leftMs)) return;
      if (this.seeTerm({ fence, rev, value })) this.armDeadline(leftMs);
    } else if (event.startsWith(END)) {
      const fence = Number(event.slice(END.length));
      // Remembered even with no term current: a read in flight must not bring the ended term back.
      if (Number.isFinite(fence)) this.endedFence = Math.max(this.endedFence, fence);
      if (this.current !== null && this.current.fence <= fence) this.seeEnd();
    } else if (GONE_EVENTS.has(event) && this.current !== null) {
      // Which term it was is for a read to tell (it may be one that began since).
      this.read();
    }
  }

  /** Emits `seen` unless it is not newer than what was emitted. */
  private seeTerm(seen: Seen): boolean {
    const { current } = this;
    if (current !== null ? seen.fence < current.fence || (seen.fence === current.fence && seen.rev <= current.rev) : seen.fence <= this.endedFence) {
      return false;
    }
    this.current = seen;
    this.emit({ fence: seen.fence, value: seen.value });
    return true;
  }

  private seeEnd(): void {
    if (this.current === null) return;
    this.endedFence = Math.max(this.endedFence, this.current.fence);
    this.current = null;
    clearTimeout(this.deadline);
    this.deadline = undefined;
    this.emit(null);
  }

  private emit(leader: Leader | null): void {
    this.emitted = true;
    this.observer.next(leader);
  }

  private seeReading(reading: LeaderReading): void {
    if (reading.held) {
      this.seeTerm({ fence: reading.fence, rev: reading.rev, value: reading.value });
      if (this.current?.fence === reading.fence) this.armDeadline(reading.leftMs);
    } else if (this.current !== null && reading.nowUs > this.current.fence) {
      // Read after the term began (fences are not behind the server's clock), and nobody leads: it is over.
      this.seeEnd();
    } else if (this.current !== null) {
      // A fence ahead of the server's clock (a counter that ran ahead): this read cannot tell; look again soon.
      this.armDeadline(RETRY_AFTER_TROUBLE_MS);
    }
    if (!this.emitted) this.emit(null);
  }

  /** One read at a time; asked for during one, another follows it. */
  private read(): void {
    if (this.closed) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    this.reading = true;
    this.readAgain = false;
    clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    const { connection } = this;
    const { name, redisTimeout } = this.settings;
    const sentAt = performance.now();
    connection.deadlines
      .watch(this.target.read(), redisTimeout, () => new RedisUnavailableError(name, connection.server, redisTimeout, { cause: connection.lastError }))
      .then(
        (reading) => {
          this.reading = false;
          if (this.closed) return;
          this.troubleSince = undefined;
          this.seeReading(reading);
          if (this.readAgain) this.read();
        },
        (error: unknown) => {
          this.reading = false;
          if (this.closed) return;
          this.troubled(error, sentAt);
        },
      );
  }

  private troubled(error: unknown, sentAt: number): void {
    const { name, redisTimeout } = this.settings;
    if (!isTransient(error) && !(error instanceof RedisUnavailableError)) {
      this.fail(error instanceof LockError ? error : new LockError(`election '${name}': unexpected error from Redis`, name, { cause: error }));
      return;
    }
    this.troubleSince ??= sentAt;
    const troubledFor = performance.now() - this.troubleSince;
    if (error instanceof RedisUnavailableError || troubledFor >= redisTimeout) {
      const unavailable =
        error instanceof RedisUnavailableError
          ? error
          : new RedisUnavailableError(name, this.connection.server, redisTimeout, { cause: error, waited: Math.round(troubledFor) });
      this.fail(unavailable);
      return;
    }
    this.retryTimer = setTimeout(() => this.read(), RETRY_AFTER_TROUBLE_MS);
  }

  private fail(error: unknown): void {
    this.close();
    this.observer.error(error);
  }

  /** At the leader's expiry, a read: its lease may have run out without an event (late, or disabled). */
  private armDeadline(leftMs: number): void {
    clearTimeout(this.deadline);
    this.deadline = setTimeout(() => {
      this.deadline = undefined;
      this.read();
    }, timerDelay(leftMs + 1));
  }
}
