import { RedisUnavailableError, type LockLostReason } from '../errors';
import { isConnectionProblem } from '../redis/deadline';
import type { LockSettings } from './options';

/**
 * Keeps one hold alive and says when it ends: renews a lease every lease/3
 * (or checks a fixed ttl's hold still exists), and declares the hold over a
 * little before it can have ended in Redis.
 *
 * The hold ends in Redis no earlier than `sentAt + hold` (its clock started
 * when Redis ran the script, after it was sent); stopping 2% + 5 ms earlier
 * allows for clock drift and a busy event loop, so the holder hears of it
 * before anyone else can have acquired.
 */
export class HoldKeeper {
  private renewTimer: NodeJS.Timeout | undefined;
  private expiryTimer: NodeJS.Timeout | undefined;
  /** performance.now() by which the hold has surely ended in Redis. */
  private expiresAt = 0;
  private stopped = false;

  constructor(
    private readonly settings: Pick<LockSettings, 'ttl' | 'lease'>,
    /** One renewal (holdMs > 0) or check (0): ms left, 0 when the hold is gone. */
    private readonly renewOnce: (holdMs: number) => Promise<number>,
    private readonly lost: (reason: LockLostReason) => void,
  ) {}

  start(sentAt: number): void {
    const { ttl, lease } = this.settings;
    this.expiresAt = sentAt + (ttl > 0 ? ttl : lease);
    this.armExpiry();
    this.scheduleRenewal(Math.floor(lease / 3));
  }

  stop(): void {
    this.stopped = true;
    clearTimeout(this.renewTimer);
    clearTimeout(this.expiryTimer);
  }

  private armExpiry(): void {
    clearTimeout(this.expiryTimer);
    const { ttl, lease } = this.settings;
    const hold = ttl > 0 ? ttl : lease;
    const margin = Math.ceil(hold * 0.02) + 5;
    const delay = Math.max(0, this.expiresAt - margin - performance.now());
    this.expiryTimer = setTimeout(() => this.end(ttl > 0 ? 'expired' : 'unconfirmed'), delay);
  }

  private scheduleRenewal(delay: number): void {
    if (this.settings.ttl > 0 && this.expiresAt - performance.now() <= delay) return;
    this.renewTimer = setTimeout(() => void this.renew(), delay);
  }

  private async renew(): Promise<void> {
    const { ttl, lease } = this.settings;
    const sentAt = performance.now();
    let left: number;
    try {
      left = await this.renewOnce(ttl > 0 ? 0 : lease);
    } catch (error) {
      if (this.stopped) return;
      // Redis said something definite (a foreign value took the key): the hold is gone.
      if (!isConnectionProblem(error) && !(error instanceof RedisUnavailableError)) this.end('gone');
      // Otherwise keep trying until the expiry timer says the hold can no longer be vouched for.
      else this.scheduleRenewal(Math.max(10, Math.floor(lease / 10)));
      return;
    }
    if (this.stopped) return;
    if (left === 0) {
      this.end('gone');
      return;
    }
    if (ttl === 0) {
      this.expiresAt = sentAt + lease;
      this.armExpiry();
    }
    this.scheduleRenewal(Math.floor(lease / 3));
  }

  private end(reason: LockLostReason): void {
    if (this.stopped) return;
    this.stop();
    this.lost(reason);
  }
}
