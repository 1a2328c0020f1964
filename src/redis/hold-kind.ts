import type { Redis } from 'ioredis';
import type { Connection } from './connection';
import type { NotificationSource } from './subscriber';

/**
 * The seam between the core and the kinds of hold yadl offers (today the
 * read/write lock, whose exclusive mode is the plain lock). The core
 * (acquisition state machine, wait queue, hold keeper, facade) talks only to
 * these two interfaces; a new kind is a folder of scripts, a module that
 * implements HoldKind over them, and a facade class, with no edit to the core.
 */
export interface HoldKind {
  /** What messages, tracing and query call holds of this kind: 'lock', later 'semaphore', 'election'. */
  readonly kind: string;
  /**
   * Whether a grant to one waiter may leave room for the next (readers,
   * permits): the wait queue then lets the next local waiter try at once.
   */
  readonly shared: boolean;
  /** This kind's hold of `name` under `prefix`, reached through `connection`. */
  target(connection: Connection, prefix: string, name: string): HoldTarget;
}

/**
 * One name of one kind on one connection: every state change of its holds,
 * each one atomic Lua script on the server's clock, with the reply checked
 * and typed (anything else is a LockError, never misread).
 */
export interface HoldTarget {
  readonly name: string;
  /** The key whose Cluster slot every key of this hold shares. */
  readonly slotKey: string;
  /** Where the hold's wake-ups (releases) and expiry events arrive. */
  readonly channel: string;
  /**
   * Optional: the source its waiters listen to `channel` through, when that
   * is not the connection's subscriber as it is (a multi-name hold listens to
   * every name's channel under one made-up `channel`). Called with the
   * connection's subscriber; should return the same source for the same one,
   * so that waiters of one target in one process share a wait queue.
   */
  notifications?(subscriber: NotificationSource): NotificationSource;
  /**
   * Takes a hold for `token` lasting `holdMs`. `waits`: the caller will wait
   * if blocked (a kind may then keep its place: a writer's mark, a ticket in
   * a fair line). `companions`: tokens of other waiters of this process
   * whose places this attempt keeps alive too (one command for all).
   */
  acquire(token: string, holdMs: number, waits: boolean, companions?: readonly string[]): Promise<AcquireReply>;
  /** Extends the hold to `holdMs` from now (0: only checks); ms left, or 0 when the hold is gone. */
  renew(token: string, holdMs: number): Promise<number>;
  /**
   * Optional, with `renewMany`: which targets' renewals may go in one script
   * (one kind, one Cluster slot). A kind without it renews each hold with
   * `renew`, one script per hold.
   */
  readonly renewGroup?: string;
  /**
   * Optional: renews (holdMs > 0) or checks (0) the holds of targets of this
   * target's `renewGroup` in one atomic script, as `renew` would one by one:
   * per hold, in order, ms left, 0 when the hold is gone, or a LockError
   * when Redis refused to touch that hold's keys. Rejects, for all of them,
   * when the script as a whole got no answer (transient trouble).
   */
  renewMany?(holds: readonly HoldRenewal[]): Promise<(number | Error)[]>;
  /** Gives the hold back and wakes waiters; `releaseId` tags the wake-up ('' for none). */
  release(token: string, releaseId: string): Promise<ReleaseReply>;
  /** Takes back what a waiter that gives up left behind (a writer's mark); true when there was something. */
  withdraw(token: string): Promise<boolean>;
  /** Who holds it, changing nothing; `token` is compared with the holders ('' for none). */
  inspect(token: string): Promise<InspectReply>;
  /** Frees it from every holder; true when it was held. */
  forceRelease(): Promise<boolean>;
  /**
   * For `replicas`: on `client` (a dedicated connection to the node that has
   * the hold, after ASKING when `asking`), whether `token` still holds, its
   * hold rewritten unchanged so that WAIT on that connection counts it.
   */
  confirm(client: Redis, token: string, asking: boolean): Promise<boolean>;
}

/** One hold's renewal in a batch (HoldTarget.renewMany). */
export interface HoldRenewal {
  readonly target: HoldTarget;
  readonly token: string;
  /** The new hold from now, ms; 0 only checks. */
  readonly holdMs: number;
}

export type AcquireReply =
  /**
   * `leftMs`: what the hold has left by the server's clock, less than the
   * hold when an earlier, unanswered attempt of the same token took it.
   */
  | { readonly acquired: true; readonly fence: number; readonly leftMs: number }
  /**
   * Blocked: look again in about `waitMs` (the blocking hold's expiry, or
   * when a place in a line needs keeping). `queued`: this waiter left
   * something (a writer's mark, a ticket) to withdraw when it gives up.
   * `behindWriter`: held back only by a waiting writer's mark. `ticket`:
   * its number in a fair line (0: none), which grants name.
   */
  | {
      readonly acquired: false;
      readonly waitMs: number;
      readonly queued: boolean;
      readonly behindWriter: boolean;
      readonly ticket: number;
      /**
       * Another waiter of this process may get in although this one cannot:
       * something is free, but less than it asks (a semaphore's permits),
       * or others are ahead of it in a line whose head may wait behind it
       * in this process. The wait queue then lets the next one try.
       */
      readonly passOn?: boolean;
    };

/** 1 released, 0 it was free (or this token's hold had expired), -1 another owner holds it. */
export type ReleaseReply = 1 | 0 | -1;

export interface InspectReply {
  readonly held: boolean;
  /** Whether the token asked about is one of the holders. */
  readonly mine: boolean;
  /** Until the earliest blocking hold expires (0 when free). */
  readonly waitMs: number;
  /** An exclusive holder (a writer) holds it. */
  readonly exclusive: boolean;
  /** How many shared holders (readers) hold it. */
  readonly shared: number;
  /** How many wait in its fair line. */
  readonly waiting: number;
}
