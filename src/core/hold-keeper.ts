import { RedisUnavailableError, type LockLostReason } from '../errors';
import { debugRenewal, debugTrouble, type DebuggedLock } from '../observability/debug';
import { isTransient } from '../redis/deadline';
import type { LockSettings } from './options';
import type { RenewalSchedule } from './renewal-batcher';
import { timerDelay } from './timers';

/** Clock drift and a busy event loop: the hold is declared over this much before it can have ended. */
export function holdMargin(holdMs: number): number {
  return Math.ceil(holdMs * 0.02) + 5;
}

/**
 * Keeps one hold alive and says when it ends: renews a lease every lease/3
 * (or checks that a fixed ttl's hold still exists), and declares the hold
 * over a little before it can have ended in Redis.
 *
 * Redis reports what a hold has left when it runs a script (`leftMs`); the
 * script ran after it was sent, so the hold ends no earlier than
 * `sentAt + leftMs` on this process's clock. Stopping 2% + 5 ms earlier
 * allows for clock drift and a busy event loop, so the holder hears of it
 * before anyone else can have acquired. One timer serves both jobs.
 *
 * With a RenewalSchedule (a kind that renews many holds in one script), the
 * schedule says when to renew instead, possibly early (see renewalWindow),
 * so that the holds of one connection renew together; the timer then only
 * watches the end. Losses are told exactly as without it.
 */
export class HoldKeeper {
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() by which the hold has surely ended in Redis, less the margin. */
  private endsAt = 0;
  private nextRenewalAt = Infinity;
  /** How early the planned renewal may come to join others (RenewalSchedule). */
  private renewalWindow = 0;
  private renewing = false;
  private stopped = false;
  /** Cancels the renewal planned on the schedule, if any. */
  private unschedule: (() => void) | undefined;

  constructor(
    /** The lock's name, prefix and mode only name it in NODE_DEBUG lines. */
    private readonly settings: Pick<LockSettings, 'ttl' | 'lease'> & Partial<DebuggedLock>,
    /** One renewal (holdMs > 0) or check (0): ms left, 0 when the hold is gone. */
    private readonly renewOnce: (holdMs: number) => Promise<number>,
    private readonly lost: (reason: LockLostReason) => void,
    /** Shared by the holds of one connection, to renew together; without it, each renews on its own timer. */
    private readonly renewals?: RenewalSchedule,
  ) {}

  /** `leftMs` of the hold were left when Redis ran the script sent at `sentAt`. */
  start(sentAt: number, leftMs: number): void {
    this.holdFrom(sentAt, leftMs);
    this.planRenewal(Math.floor(this.settings.lease / 3));
    this.schedule();
  }

  /**
   * Ends the hold now if its time is up, without waiting for its timer: a
   * process that resumes after a pause (SIGSTOP, a long GC) runs overdue
   * timers in due order, so the holder's own may come before this one's.
   */
  check(): void {
    if (!this.stopped && performance.now() >= this.endsAt) this.tick();
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.timer);
    this.unschedule?.();
    this.unschedule = undefined;
  }

  private holdFrom(sentAt: number, leftMs: number): void {
    const { ttl, lease } = this.settings;
    this.endsAt = sentAt + leftMs - holdMargin(ttl > 0 ? ttl : lease);
  }

  /**
   * The next renewal (or check) in `delay`, or up to `window` ms earlier with
   * a RenewalSchedule; a fixed hold is not checked when it ends first.
   */
  private planRenewal(delay: number, window = renewalWindow(delay)): void {
    const at = performance.now() + delay;
    this.nextRenewalAt = this.settings.ttl > 0 && at >= this.endsAt ? Infinity : at;
    this.renewalWindow = window;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    this.unschedule?.();
    this.unschedule = undefined;
    let at = this.renewing ? this.endsAt : Math.min(this.endsAt, this.nextRenewalAt);
    if (this.renewals !== undefined && !this.renewing && this.nextRenewalAt < this.endsAt) {
      this.unschedule = this.renewals.schedule(this.nextRenewalAt, this.renewalWindow, this.due);
      at = this.endsAt;
    }
    this.timer = setTimeout(this.tick, timerDelay(at - performance.now()));
  }

  /** The schedule's turn for this hold's renewal. */
  private readonly due = (): void => {
    this.unschedule = undefined;
    if (this.stopped || this.renewing) return;
    void this.renew();
  };

  private readonly tick = (): void => {
    if (this.stopped) return;
    const now = performance.now();
    if (now >= this.endsAt) {
      this.end(this.settings.ttl > 0 ? 'expired' : 'unconfirmed');
      return;
    }
    if (!this.renewing && now >= this.nextRenewalAt) void this.renew();
    this.schedule();
  };

  private async renew(): Promise<void> {
    const { ttl, lease } = this.settings;
    const sentAt = performance.now();
    this.renewing = true;
    let left: number;
    try {
      left = await this.renewOnce(ttl > 0 ? 0 : lease);
    } catch (error) {
      this.renewing = false;
      if (this.stopped) return;
      // Redis said something definite (a foreign value took the key): the hold is gone.
      if (!isTransient(error) && !(error instanceof RedisUnavailableError)) return this.end('gone');
      debugTrouble(this.settings, ttl > 0 ? 'check' : 'renewal', error);
      // Unreachable, or busy for now (BUSY, LOADING...): keep trying until the hold can no longer be vouched for.
      const retryIn = Math.max(10, Math.floor(lease / 10));
      // Retries of the holds of one failed batch fall due together, and go together again.
      this.planRenewal(retryIn, Math.floor(retryIn / 2));
      return this.schedule();
    }
    this.renewing = false;
    if (this.stopped) return;
    debugRenewal(this.settings, ttl === 0, left);
    if (left === 0) return this.end('gone');
    if (ttl === 0) this.holdFrom(sentAt, left);
    this.planRenewal(Math.floor(lease / 3));
    this.schedule();
  }

  private end(reason: LockLostReason): void {
    if (this.stopped) return;
    this.stop();
    this.lost(reason);
  }
}

/**
 * How early a renewal planned `period` ms ahead may come to join others: up
 * to the period less a tenth of it. Holds renewed in one batch fall due
 * together again, so a window that nearly covers the period lets every hold
 * of a connection converge on one batch per period; the tenth kept back
 * means a renewal never follows the previous one sooner than that.
 */
export function renewalWindow(period: number): number {
  return Math.max(0, period - Math.max(1, Math.floor(period / 10)));
}
