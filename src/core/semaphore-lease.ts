import type { Lease } from './lease';

/** A grant of a semaphore, as `semaphore$` emits it: a Lease of `permits` permits. */
export interface SemaphoreLease extends Lease {
  /** The permits this grant holds, all taken at once. */
  readonly permits: number;
}

/** The SemaphoreLease over the Lease of the acquisition that holds the grant. */
class GrantLease implements SemaphoreLease {
  readonly #inner: Lease;
  readonly name: string;
  readonly prefix: string;
  readonly mode: Lease['mode'];
  readonly token: string;
  readonly fence: number;
  readonly ttl: number;

  constructor(
    inner: Lease,
    readonly permits: number,
  ) {
    this.#inner = inner;
    this.name = inner.name;
    this.prefix = inner.prefix;
    this.mode = inner.mode;
    this.token = inner.token;
    this.fence = inner.fence;
    this.ttl = inner.ttl;
    Object.freeze(this);
  }

  get signal(): AbortSignal {
    return this.#inner.signal;
  }

  static innerOf(lease: SemaphoreLease): Lease {
    if (!(lease instanceof GrantLease)) throw new TypeError('not a semaphore lease issued by yadl');
    return lease.#inner;
  }
}

export function semaphoreLease(inner: Lease, permits: number): SemaphoreLease {
  return new GrantLease(inner, permits);
}

/** The acquisition's own lease under a SemaphoreLease (for releaseLease). */
export function innerLease(lease: SemaphoreLease): Lease {
  return GrantLease.innerOf(lease);
}
