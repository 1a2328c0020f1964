import type { HoldMode } from './options';

/** A held lock, as `lock$` emits it. */
export interface Lease {
  readonly name: string;
  readonly prefix: string;
  /** `write` for exclusive and write holds, `read` for shared ones. */
  readonly mode: HoldMode;
  /** The owner token: 128 random bits, hex. */
  readonly token: string;
  /**
   * The fencing token: strictly greater than every fence issued before for
   * this name (see README, "Fencing tokens"). Pass it to the resource you
   * guard so that it can refuse a write from an older holder.
   */
  readonly fence: number;
  /** Aborts when the hold ends: with a LockLostError when it is lost, with a LockError when it is released. */
  readonly signal: AbortSignal;
  /** A fixed hold's ttl in ms, or 0 for a renewed lease. */
  readonly ttl: number;
}
