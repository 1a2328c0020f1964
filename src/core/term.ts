/** One term of leadership, as `elect$` emits it (see README, "Leader election"). */
export interface Term {
  readonly name: string;
  readonly prefix: string;
  /**
   * The term's number, a fencing token: strictly greater than every earlier
   * term's of this election, also across Redis restarts (as lock fences).
   * Pass it to stores as the leader's epoch.
   */
  readonly fence: number;
  /** The leader's value: the candidate's, or the last one proclaimed in this term. */
  readonly value: string;
  /** Aborts when the term ends: with a LockLostError when it is lost, with a LockError when it is resigned. */
  readonly signal: AbortSignal;
  /**
   * Ends the term now: the next candidate takes over within a few ms, and
   * this candidate goes to the back of the line. Resolves once Redis took it
   * (at once for a term already over).
   */
  resign(): Promise<void>;
  /** Changes the leader's value without a new term; rejects with LockLostError when the term is over. */
  proclaim(value: string): Promise<void>;
}

/** Who leads, as `leader$` and `RedisElection#leader` tell it. */
export interface Leader {
  readonly fence: number;
  readonly value: string;
}
