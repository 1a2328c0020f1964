/**
 * What every contender implements, so that one scenario code measures them
 * all the same way: `acquire(name)` resolves once the lock is held, and the
 * hold it returns has `release()`. (A hold object rather than a method on
 * the adapter, because scenario 5 holds 1000 names at once.)
 */
export interface Held {
  /** Resolves when the library reports the release done (lock$: at once, it releases in the background). */
  release(): Promise<void>;
  /** The hold's fencing token, where the library issues one (yadl): the order in which holds were granted. */
  readonly fence?: number;
}

export interface LockAdapter {
  /**
   * Waits as long as it takes. `signal` abandons the wait where the library
   * supports it (yadl, redis-semaphore); the others finish their wait.
   */
  acquire(name: string, signal?: AbortSignal): Promise<Held>;
  /**
   * Starts an acquisition that calls `onHeld` once held, with nothing of the
   * harness in between (no promise, no async function): the leanest waiter the
   * library's API allows. Scenario 7 measures its memory. Optional; the
   * default is `acquire(name).then(onHeld)`.
   */
  enqueue?(name: string, onHeld: (held: Held) => void): void;
  /**
   * Holds every one of `names` at once (scenario 11, multi-resource locks):
   * yadl's lockAll$, redlock's multi-resource acquire. Optional: only the
   * contenders scenario 11 lists implement it.
   */
  acquireAll?(names: readonly string[], signal?: AbortSignal): Promise<Held>;
  /** Closes what the adapter opened (its Redis clients). */
  close(): Promise<void>;
}

export interface AdapterOptions {
  /** redis://host:port/db of the benchmark's server. */
  readonly url: string;
  /** Key namespace of this run, so that runs never meet. */
  readonly prefix: string;
  /**
   * The hold's lifetime for scenario 4 (expiry handoff), in ms: yadl's renewed
   * `lease`, redlock's duration, redis-semaphore's lockTimeout, the raw PX.
   * Absent: each library's default (redlock needs one: 10 000 ms).
   */
  readonly leaseMs?: number;
  /** CLIENT SETNAME of the adapter's connections (scenario 7 counts them). */
  readonly connectionName: string;
  /**
   * Scenario 8: use the Redis Cluster with these seed nodes instead of `url`.
   * Only the contenders that scenario lists support it (yadl lock$, raw).
   */
  readonly cluster?: readonly { readonly host: string; readonly port: number }[];
  /**
   * yadl fair mode: the `handoffGrace` of every acquisition, in ms (scenario
   * 9). Absent: yadl's default (2000 ms). Ignored by the other contenders.
   */
  readonly handoffGraceMs?: number;
}

export type Family = 'yadl' | 'peer' | 'floor';

export interface ContenderSpec {
  /** Stable id used on the command line, in results.json and in worker messages. */
  readonly id: string;
  readonly label: string;
  readonly family: Family;
  /** npm package measured (for its version in the report). */
  readonly packageName: string;
  /** Settings, as the report states them. */
  readonly settings: string;
  /** Waits by retrying on a timer (the peers): the "polling peers" of the targets. */
  readonly polling: boolean;
  /** Only works inside one process (async-mutex): every logical worker shares one process. */
  readonly inProcess: boolean;
  /** The aggressive-retry row of a peer. */
  readonly aggressive: boolean;
  /** Waits in a FIFO line across processes (yadl `fair: true`): scenario 3 checks the order it serves in. */
  readonly fair?: boolean;
  create(options: AdapterOptions): Promise<LockAdapter>;
  /** The Redis key whose PTTL is the end of `name`'s hold (scenario 4). */
  key?(prefix: string, name: string): string;
}
