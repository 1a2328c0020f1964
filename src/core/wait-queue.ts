import { diagnostics } from '../diagnostics';
import type { Listening, NotificationSource } from '../redis/subscriber';

export type AttemptOutcome =
  | { readonly kind: 'acquired' }
  | { readonly kind: 'blocked'; readonly waitMs: number }
  /** The waiter left (cancelled, timed out, failed) during its attempt. */
  | { readonly kind: 'gone' };

export interface QueuedWaiter {
  /** A reader: when it acquires, the next waiter may acquire too, so the queue goes on. */
  readonly shared: boolean;
  /** One acquisition attempt; the waiter leaves the queue itself when it acquires or gives up. */
  attempt(): Promise<AttemptOutcome>;
}

export interface QueueMarker {
  readonly queue: WaitQueue;
  readonly wakeups: number;
}

/** Keyspace events after which the lock may be free. */
const WAKING_EVENTS = new Set(['del', 'hdel', 'expired', 'evicted']);

/**
 * The waiters of one lock in this process, in arrival order, behind one
 * subscription to the lock's keyspace channel.
 *
 * A waiter sends nothing while it waits. The queue makes an attempt for its
 * head only when something may have freed the lock: a keyspace event, the
 * blocking hold's expiry deadline (events can be late or lost), the
 * subscription being confirmed or restored after a reconnect. One attempt at
 * a time answers for the whole queue, so a release wakes one waiter per
 * process rather than a herd; events that arrive during an attempt make the
 * queue try again once it fails, so none is missed.
 */
export class WaitQueue {
  private readonly waiters = new Set<QueuedWaiter>();
  private readonly listening: Listening;
  /** Counts wake-up causes; a waiter compares it across its own first attempt. */
  private wakeups = 0;
  private confirmed = false;
  private running = false;
  private dirty = false;
  private deadline: NodeJS.Timeout | undefined;
  private disposed = false;

  constructor(
    subscriber: NotificationSource,
    channel: string,
    private readonly onEmpty: (queue: WaitQueue) => void,
  ) {
    diagnostics.waitQueues += 1;
    this.listening = subscriber.listen(channel, {
      message: (event) => {
        if (WAKING_EVENTS.has(event)) this.wake();
      },
      resubscribed: () => this.wake(),
    });
    void this.listening.ready.then((ok) => {
      this.confirmed = ok;
      if (ok) this.wake();
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

  get size(): number {
    return this.waiters.size;
  }

  /** Adds a waiter whose attempt (made after `marker`) was blocked for `waitMs`. */
  join(waiter: QueuedWaiter, marker: QueueMarker | undefined, waitMs: number): void {
    this.waiters.add(waiter);
    this.armDeadline(waitMs);
    if (this.confirmed && (marker?.queue !== this || marker.wakeups !== this.wakeups)) this.wake();
  }

  leave(waiter: QueuedWaiter): void {
    if (!this.waiters.delete(waiter) || this.waiters.size > 0) return;
    this.dispose();
  }

  private wake(): void {
    if (this.disposed) return;
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
      for (;;) {
        this.dirty = false;
        const head = this.waiters.values().next().value;
        if (head === undefined || this.disposed) return;
        const outcome = await head.attempt();
        if (outcome.kind === 'blocked') {
          this.armDeadline(outcome.waitMs);
          if (!this.dirty) return;
        } else if (outcome.kind === 'acquired' && !this.dirty && !head.shared) {
          return;
        }
        // 'gone', or a reader got in: the turn passes to the next waiter.
      }
    } finally {
      this.running = false;
    }
  }

  /** One timer per queue, at the blocking hold's expiry as last reported. */
  private armDeadline(waitMs: number): void {
    if (this.disposed) return;
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.deadline = setTimeout(() => {
      this.deadline = undefined;
      this.wake();
    }, waitMs + 1);
  }

  private dispose(): void {
    this.disposed = true;
    diagnostics.waitQueues -= 1;
    if (this.deadline !== undefined) clearTimeout(this.deadline);
    this.deadline = undefined;
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
export function existingWaitQueue(subscriber: NotificationSource, channel: string): WaitQueue | undefined {
  return queues.get(subscriber)?.get(channel);
}
