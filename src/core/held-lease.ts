import type { ReleaseReply } from '../redis/hold-kind';
import type { Lease } from './lease';

/** What a lease needs of the acquisition that holds it. */
export interface LeaseHolder {
  readonly signal: AbortSignal;
  /** Releases the hold now; the subscription stays to be closed by its owner. */
  release(): Promise<ReleaseReply>;
  /** Ends the hold here without releasing it in Redis (a force release is about to free the lock). */
  forgo(): void;
  /** Ends the hold now if its time is up, its timer notwithstanding (after a pause). */
  checkHold?(): void;
}

/** The Lease of one hold: a plain frozen object to its reader, tied to its acquisition inside. */
export class HeldLease implements Lease {
  readonly #holder: LeaseHolder;

  constructor(
    readonly name: string,
    readonly prefix: string,
    readonly mode: Lease['mode'],
    readonly token: string,
    readonly fence: number,
    readonly ttl: number,
    holder: LeaseHolder,
  ) {
    this.#holder = holder;
    Object.freeze(this);
  }

  get signal(): AbortSignal {
    return this.#holder.signal;
  }

  static holderOf(lease: Lease): LeaseHolder {
    if (!(lease instanceof HeldLease)) throw new TypeError('not a lease issued by yadl');
    return lease.#holder;
  }
}

/**
 * Releases a lease now and tells what Redis answered (RedisUnavailableError
 * after redisTimeout); the subscription stays to be closed by its owner.
 */
export function releaseLease(lease: Lease): Promise<ReleaseReply> {
  return HeldLease.holderOf(lease).release();
}

/** Ends a lease now if its time is up, ahead of its timer (see HoldKeeper#check). */
export function checkLease(lease: Lease): void {
  HeldLease.holderOf(lease).checkHold?.();
}

/** Ends a lease here without a release command, for its owner's force release to free the lock in one step. */
export function forgoLease(lease: Lease): void {
  HeldLease.holderOf(lease).forgo();
}
