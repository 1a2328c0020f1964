import { RedisUnavailableError, type LockLostReason } from '../errors';
import { debugRenewal, debugTrouble, type DebuggedLock } from '../observability/debug';
import { isTransient } from '../redis/deadline';
import type { LockSettings } from './options';
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
 */
export class HoldKeeper {
  private timer: NodeJS.Timeout | undefined;
  /** performance.now() by which the hold has surely ended in Redis, less the margin. */
  private endsAt = 0;
  private nextRenewalAt = Infinity;
  private renewing = false;
  private stopped = false;

  constructor(
    /** The lock's name, prefix and mode only name it in NODE_DEBUG lines. */
    private readonly settings: Pick<LockSettings, 'ttl' | 'lease'> & Partial<DebuggedLock>,
    /** One renewal (holdMs > 0) or check (0): ms left, 0 when the hold is gone. */
    private readonly renewOnce: (holdMs: number) => Promise<number>,
    private readonly lost: (reason: LockLostReason) => void,
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
  }

  private holdFrom(sentAt: number, leftMs: number): void {
    const { ttl, lease } = this.settings;
    this.endsAt = sentAt + leftMs - holdMargin(ttl > 0 ? ttl : lease);
  }

  /** The next renewal (or check) in `delay`; a fixed hold is not checked when it ends first. */
  private planRenewal(delay: number): void {
    const at = performance.now() + delay;
    this.nextRenewalAt = this.settings.ttl > 0 && at >= this.endsAt ? Infinity : at;
  }

  private schedule(): void {
    clearTimeout(this.timer);
    const at = this.renewing ? this.endsAt : Math.min(this.endsAt, this.nextRenewalAt);
    this.timer = setTimeout(this.tick, timerDelay(at - performance.now()));
  }

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
      this.planRenewal(Math.max(10, Math.floor(lease / 10)));
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
