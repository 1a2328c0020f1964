import type { ReleaseReply } from '../redis/hold-kind';
import type { HoldMode } from './options';

/** Several locks held at once, as `lockAll$` emits them. */
export interface MultiLease {
  /** The names, as they were given. */
  readonly names: readonly string[];
  readonly prefix: string;
  /** `write` for exclusive and write holds, `read` for shared ones; the same for every name. */
  readonly mode: HoldMode;
  /** Each name's fencing token (see README, "Fencing tokens"), as a single lock of that name would get. */
  readonly fences: Readonly<Record<string, number>>;
  /**
   * Aborts when the holds end: with a LockLostError naming the name lost when
   * one of them is lost, with a LockError when they are released.
   */
  readonly signal: AbortSignal;
  /** A fixed hold's ttl in ms, or 0 for a renewed lease. */
  readonly ttl: number;
}

/** What a multi-lease needs of the acquisition that holds it. */
export interface MultiLeaseHolder {
  readonly signal: AbortSignal;
  /** Releases every name now; the subscription stays to be closed by its owner. */
  release(): Promise<ReleaseReply>;
  /** Ends the holds here without releasing them (a force release is about to free every name). */
  forgo(): void;
}

/** The MultiLease of one multi-lock: a plain frozen object to its reader, tied to its acquisition inside. */
export class HeldMultiLease implements MultiLease {
  readonly #holder: MultiLeaseHolder;

  constructor(
    readonly names: readonly string[],
    readonly prefix: string,
    readonly mode: HoldMode,
    readonly fences: Readonly<Record<string, number>>,
    readonly ttl: number,
    holder: MultiLeaseHolder,
  ) {
    this.#holder = holder;
    Object.freeze(this);
  }

  get signal(): AbortSignal {
    return this.#holder.signal;
  }

  static holderOf(lease: MultiLease): MultiLeaseHolder {
    if (!(lease instanceof HeldMultiLease)) throw new TypeError('not a multi-lease issued by yadl');
    return lease.#holder;
  }
}

/**
 * Releases every name of a multi-lease now: 1 when it held them, -1 when
 * another owner holds one it no longer held, 0 otherwise. The subscription
 * stays to be closed by its owner.
 */
export function releaseMultiLease(lease: MultiLease): Promise<ReleaseReply> {
  return HeldMultiLease.holderOf(lease).release();
}
