import { diagnostics } from '../diagnostics';
import { RedisUnavailableError } from '../errors';
import { debugWake } from '../observability/debug';
import type { Listening, NotificationSource } from '../redis/subscriber';
import { timerDelay } from './timers';

export type AttemptOutcome =
  /** `holdMs`: how long the new hold lasts unless renewed; the others' deadline retry comes then at the latest. */
  | { readonly kind: 'acquired'; readonly holdMs: number }
  /**
   * `behindWriter`: a reader held back only by a waiting writer's mark.
   * `passOn`: the next waiter may get in although this one cannot (see AcquireReply): try it too.
   */
  | { readonly kind: 'blocked'; readonly waitMs: number; readonly behindWriter: boolean; readonly passOn?: boolean }
  /** The waiter left (cancelled, timed out, failed) during its attempt, perhaps because of `error`. */
  | { readonly kind: 'gone'; readonly error?: unknown };

export interface QueuedWaiter {
  /** A reader: when it acquires, the next waiter may acquire too, so the queue goes on. */
  readonly shared: boolean;
  /**
   * Its ticket in the lock's fair line, once it has one: the number that
   * grants name, and the token whose place the queue keeps alive.
   */
  readonly ticket: { readonly seq: number; readonly token: string } | undefined;
  /**
   * One acquisition attempt, which also keeps the places of `companions`
   * (tokens of this queue's other waiters in the fair line). The queue drops
   * a waiter that acquired or is gone; the waiter also leaves by itself when
   * it gives up between attempts.
   */
  attempt(companions: readonly string[]): Promise<AttemptOutcome>;
  /** Redis is out of reach: stop waiting with this error. */
  abandon(error: RedisUnavailableError): void;
}

export interface QueueMarker {
  readonly queue: WaitQueue;
  readonly wakeups: number;
}

/**
 * Events after which the lock may be free: yadl's own wake-up ('release',
 * 'release:<id>') and Redis' 'expired' and 'evicted'. Not 'del' or 'hdel':
 * where an administrator turned generic or hash events on (KEA is common),
 * every release would wake each waiting process twice. A lock key deleted
 * by another program is noticed at the deadline retry.
 */
const WAKING_EVENTS = new Set(['release', 'expired', 'evicted']);
const RELEASE_WITH_ID = 'release:';
/** 'grant:<seq>,<seq>...|<next seqs>|<graceMs>': a release handed the lock to those tickets (see grant-line.lua). */
const GRANT = 'grant:';
/** Places kept alive per attempt, at most: a queue longer than that refreshes the rest as they move up. */
const MAX_COMPANIONS = 1_000;
/**
 * How long a queue whose last waiter left keeps listening. The next waiter of
 * the same lock in this process (under contention, the one that just
 * acquired, back for more) then finds it subscribed and confirmed, and its
 * marker shows whether anything woke the queue during its first attempt. A
 * queue made anew has no marker to compare: it has to try once more when its
 * subscription is confirmed, an extra blocked attempt per contended wait.
 * Short, as the listening subscription keeps the process alive meanwhile.
 */
export const QUEUE_LINGER_MS = 250;

/**
 * The waiters of one lock in this process, in arrival order, behind one
 * subscription to the lock's keyspace channel.
 *
 * A waiter sends nothing while it waits. The queue makes an attempt for its
 * head only when something may have freed the lock: a release's wake-up, an
 * expiry, the blocking hold's expiry deadline (events can be late or lost),
 * the subscription being confirmed, restored or lost. One attempt at a time
 * answers for the whole queue, so a release wakes one waiter per process
 * rather than a herd; events that arrive during an attempt make the queue try
 * again once it fails, so none is missed. A release by this process wakes
 * the queue as soon as Redis answers it, without waiting for its event.
 */
export class WaitQueue {
  private readonly waiters = new Set<QueuedWaiter>();
  /** Waiters whose tickets a release granted the lock to: they go first, to confirm it. */
  private readonly granted = new Set<QueuedWaiter>();
  private readonly listening: Listening;
  /** Counts wake-up causes; a waiter compares it across its own first attempt. */
  private wakeups = 0;
  private confirmed = false;
  private running = false;
  private dirty = false;
  private deadline: NodeJS.Timeout | undefined;
  /** performance.now() at which `deadline` fires. */
  private deadlineAt = Infinity;
  private disposed = false;
  /** Set while the queue has no waiters and lingers (see QUEUE_LINGER_MS). */
  private linger: NodeJS.Timeout | undefined;
  /**
   * This process's releases of the lock, by id: 'sent' until Redis answered,
   * then 'woken' once the queue acted on the answer (its wake-up event, when
   * it comes, is then skipped).
   */
  private readonly ownReleases = new Map<string, 'sent' | 'woken'>();

  constructor(
    subscriber: NotificationSource,
    private readonly channel: string,
    private readonly onEmpty: (queue: WaitQueue) => void,
  ) {
    this.listening = subscriber.listen(channel, {
      message: (event) => this.onEvent(event),
      // Also after a first SUBSCRIBE that Redis refused and the subscriber retried.
      resubscribed: () => {
        this.confirmed = true;
        this.wake('resubscribed');
      },
      // Try at once: if Redis itself is gone, the attempt finds out within redisTimeout.
      connectionLost: () => this.wake('subscriber connection lost'),
    });
    void this.listening.ready.then((ok) => {
      this.confirmed = ok;
      if (ok) this.wake('subscribed');
    });
  }

  /**
   * A marker to take before an attempt made outside the queue; `join` uses it
   * to tell whether the lock may have been freed after that attempt ran.
   * Undefined while the subscription is not yet confirmed.
   */
  marker(): QueueMarker | undefined {
    return this.confirmed ? { queue: this, wakeups: this.wakeups } : undefined;
  }

  /** Adds a waiter whose attempt (made after `marker`) was blocked for `waitMs`. */
  join(waiter: QueuedWaiter, marker: QueueMarker | undefined, waitMs: number): void {
    if (this.waiters.size === 0) {
      // Counted while it has waiters: a lingering queue waits for nobody.
      diagnostics.waitQueues += 1;
      clearTimeout(this.linger);
      this.linger = undefined;
    }
    this.waiters.add(waiter);
    this.armDeadline(waitMs);
    if (this.confirmed && (marker?.queue !== this || marker.wakeups !== this.wakeups)) this.wake('woken during the first attempt');
  }

  leave(waiter: QueuedWaiter): void {
    this.granted.delete(waiter);
    if (!this.waiters.delete(waiter) || this.waiters.size > 0) return;
    diagnostics.waitQueues -= 1;
    this.granted.clear();
    this.clearDeadline();
    // Still listening: events meanwhile count as wake-ups, for the next waiter's marker.
    this.linger = setTimeout(() => this.dispose(), QUEUE_LINGER_MS);
    this.linger.unref();
  }

  /**
   * This process releases the lock: the queue wakes on whichever comes first,
   * Redis' answer to the release or its wake-up event, and not again on the
   * other. (Waking before the answer could let an attempt overtake a release
   * that ioredis resends as EVAL after NOSCRIPT.)
   */
  releasing(releaseId: string, answered: Promise<unknown>): void {
    if (this.disposed) return;
    // Ids whose wake-up never came (a lost subscription) must not pile up.
    if (this.ownReleases.size >= 1_000) this.ownReleases.clear();
    this.ownReleases.set(releaseId, 'sent');
    answered.then(
      () => {
        if (this.ownReleases.get(releaseId) !== 'sent') return;
        // A waiter in the fair line hears of its turn by name (a grant): nothing to try here.
        if (this.first()?.ticket !== undefined) return;
        this.ownReleases.set(releaseId, 'woken');
        this.wake('own release answered');
      },
      () => this.ownReleases.delete(releaseId),
    );
  }

  private onEvent(event: string): void {
    if (event.startsWith(GRANT)) {
      this.onGrant(event.slice(GRANT.length));
    } else if (event.startsWith(RELEASE_WITH_ID)) {
      const id = event.slice(RELEASE_WITH_ID.length);
      const own = this.ownReleases.get(id);
      this.ownReleases.delete(id);
      if (own !== 'woken') this.wake('release');
    } else if (WAKING_EVENTS.has(event)) {
      this.wake(event);
    }
  }

  /**
   * A directed handoff: only the owners of the granted tickets act (and the
   * next in line arms a retry at the grace, in case a grantee is gone); every
   * other process sends nothing.
   */
  private onGrant(grant: string): void {
    const [seqs = '', next = '', grace = '0'] = grant.split('|');
    const grantedSeqs = new Set(seqs.split(',').map(Number));
    const nextSeqs = next.split(',').map(Number);
    let mine = false;
    for (const waiter of this.waiters) {
      const seq = waiter.ticket?.seq;
      if (seq === undefined) continue;
      if (grantedSeqs.has(seq)) {
        this.granted.add(waiter);
        mine = true;
      } else {
        // The i-th next in line is due at the head after i graces if everyone before it is gone.
        const place = nextSeqs.indexOf(seq);
        if (place >= 0) this.armDeadline((place + 1) * Number(grace));
      }
    }
    // A waiter that came before the line existed has no ticket: it learns of the line on its next attempt.
    if (mine || this.first()?.ticket === undefined) this.wake('grant');
  }

  private wake(cause: string): void {
    if (this.disposed) return;
    debugWake(this.channel, cause);
    this.wakeups += 1;
    if (this.running) {
      this.dirty = true;
      return;
    }
    void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    try {
      // Waiters that let the next one try this round (passOn): skipped until something new happens.
      const passed = new Set<QueuedWaiter>();
      for (;;) {
        if (this.dirty) passed.clear();
        this.dirty = false;
        const head = this.first((w) => this.granted.has(w)) ?? this.first((w) => !passed.has(w));
        if (head === undefined || this.disposed) return;
        let outcome = await head.attempt(this.companionsOf(head));
        let attempted = head;
        if (outcome.kind === 'blocked' && outcome.behindWriter) {
          // Readers queue behind a waiting writer; if that writer waits in
          // this very queue, it must get its turn or nobody moves.
          const writer = this.first((w) => !w.shared);
          if (writer !== undefined) {
            attempted = writer;
            outcome = await writer.attempt(this.companionsOf(writer));
          }
        }
        if (outcome.kind === 'gone' && outcome.error instanceof RedisUnavailableError) {
          this.abandonAll(outcome.error);
          return;
        }
        if (outcome.kind !== 'blocked') {
          // Whatever state the waiter is in, it never comes up again: a
          // waiter that stays at the head answering 'gone' would spin here.
          this.leave(attempted);
          if (this.disposed) return;
        }
        if (outcome.kind === 'blocked') {
          this.armDeadline(outcome.waitMs);
          if (outcome.passOn === true) passed.add(attempted);
          else if (!this.dirty) return;
        } else if (outcome.kind === 'acquired') {
          // The others wait for this new hold now; its expiry is their deadline
          // (a release wakes them sooner), as no event may tell of it.
          this.armDeadline(outcome.holdMs);
          if (!this.dirty && !attempted.shared) return;
        }
        // 'gone', or a reader got in: the turn passes to the next waiter.
      }
    } finally {
      this.running = false;
    }
  }

  /** The tokens of the other waiters in the fair line, whose places `waiter`'s attempt keeps alive. */
  private companionsOf(waiter: QueuedWaiter): string[] {
    const tokens: string[] = [];
    for (const other of this.waiters) {
      if (other === waiter || other.ticket === undefined) continue;
      tokens.push(other.ticket.token);
      if (tokens.length === MAX_COMPANIONS) break;
    }
    return tokens;
  }

  private first(matching?: (waiter: QueuedWaiter) => boolean): QueuedWaiter | undefined {
    for (const waiter of this.waiters) if (matching === undefined || matching(waiter)) return waiter;
    return undefined;
  }

  /** Redis did not answer one waiter for redisTimeout: it will not answer the others either. */
  private abandonAll(error: RedisUnavailableError): void {
    for (const waiter of [...this.waiters]) waiter.abandon(error);
  }

  /**
   * One timer per queue, at the earliest expiry any attempt reported: a
   * later report never pushes back a retry that one waiter still needs
   * (an early retry costs one attempt; a late one, a whole hold).
   */
  private armDeadline(waitMs: number): void {
    // Nobody to wake: a waiter that joins arms its own.
    if (this.disposed || this.waiters.size === 0) return;
    const delay = timerDelay(waitMs + 1);
    const at = performance.now() + delay;
    if (this.deadline !== undefined && this.deadlineAt <= at) return;
    clearTimeout(this.deadline);
    this.deadlineAt = at;
    this.deadline = setTimeout(() => {
      this.deadline = undefined;
      this.wake('deadline');
    }, delay);
  }

  private clearDeadline(): void {
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.deadline = undefined;
    this.deadlineAt = Infinity;
  }

  /** The linger is over with nobody back: stops listening and leaves the process's queues. */
  private dispose(): void {
    if (this.disposed || this.waiters.size > 0) return;
    this.disposed = true;
    this.linger = undefined;
    this.clearDeadline();
    this.listening.close();
    this.onEmpty(this);
  }
}

const queues = new WeakMap<NotificationSource, Map<string, WaitQueue>>();

/** The queue of `channel`'s lock in this process, made on first use. */
export function waitQueue(subscriber: NotificationSource, channel: string): WaitQueue {
  let byChannel = queues.get(subscriber);
  if (byChannel === undefined) {
    byChannel = new Map();
    queues.set(subscriber, byChannel);
  }
  const channels = byChannel;
  let queue = channels.get(channel);
  if (queue === undefined) {
    queue = new WaitQueue(subscriber, channel, (empty) => {
      if (channels.get(channel) === empty) channels.delete(channel);
    });
    channels.set(channel, queue);
  }
  return queue;
}

/** The existing queue of `channel`, if anyone in this process waits there. */
export function existingWaitQueue(subscriber: NotificationSource | undefined, channel: string): WaitQueue | undefined {
  return subscriber === undefined ? undefined : queues.get(subscriber)?.get(channel);
}
