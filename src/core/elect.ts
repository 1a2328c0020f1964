import { Observable, type Subscriber as Observer, type Subscription } from 'rxjs';
import { LockLostError, RedisUnavailableError } from '../errors';
import { asHoldError } from './lock-state';
import { openConnection, type Connection } from '../redis/connection';
import { electionKind, electionTarget, type Candidate, type ElectionTarget } from '../redis/kinds/election-kind';
import { checkValue, resolveElectOptions, type ElectOptions, type ElectSettings } from './election-options';
import { checkLease, releaseLease } from './held-lease';
import type { Lease } from './lease';
import { lockWithSettings$ } from './lock';
import type { LockSettings } from './options';
import { ownerToken } from './owner-token';
import type { Term } from './term';

/**
 * A candidacy in the election `name`, as an Observable.
 *
 * Cold: each subscription is one candidate. It emits a `Term` when the
 * candidate becomes leader and `null` when that term ends for any reason
 * (resigned, its lease lost, Redis lost it; the term's `signal` aborts
 * first), and goes on campaigning, so a later term is another `Term`.
 * Unsubscribing ends the candidacy and resigns a term at once. Each term is
 * a hold of the election's own keys, taken and kept as `lock$` takes and
 * keeps a lock (waiting on notifications, renewing its lease).
 *
 * Errors: TypeError/RangeError here for bad options (before any I/O);
 * LockTimeoutError when `timeout` passes before the first term;
 * `signal.reason`; RedisUnavailableError when Redis does not answer a
 * campaign within `redisTimeout`. A lost term is not an error.
 */
export function elect$(name: string, options?: ElectOptions): Observable<Term | null> {
  const settings = resolveElectOptions(name, options);
  return new Observable<Term | null>((observer) => {
    const candidacy = new Candidacy(settings, observer);
    candidacy.start();
    return () => candidacy.close();
  });
}

/**
 *   new ─▶ campaigning ─▶ leader ─┬─▶ campaigning  (term lost: null)
 *                                 └─▶ resigning ─▶ campaigning  (resign: null, then once Redis answered)
 *   every state ─▶ closed (unsubscribe, timeout, signal, failure)
 */
type State = 'new' | 'campaigning' | 'leader' | 'resigning' | 'closed';

class Candidacy {
  private state: State = 'new';
  private readonly candidate: Candidate;
  private readonly lockSettings: LockSettings;
  private connection: Connection | undefined;
  private target: ElectionTarget | undefined;
  /** The `lock$` subscription of the current campaign or term. */
  private inner: Subscription | undefined;
  private term: ElectedTerm | undefined;
  /** The hold behind the live term (it carries the owner token, which the Term does not show). */
  private lease: Lease | undefined;
  /** `timeout` bounds the wait for the first term only. */
  private elected = false;

  constructor(
    private readonly settings: ElectSettings,
    private readonly observer: Observer<Term | null>,
  ) {
    this.candidate = { id: ownerToken(), value: settings.value, grace: settings.lock.handoffGrace };
    this.lockSettings = { ...settings.lock, kind: electionKind(this.candidate) };
  }

  start(): void {
    if (this.state !== 'new') return;
    const { signal, redis, prefix, name } = this.lockSettings;
    if (signal?.aborted) {
      this.state = 'closed';
      this.observer.error(signal.reason);
      return;
    }
    const connection = openConnection(redis);
    this.connection = connection;
    this.target = electionTarget(connection.client, connection.db, connection.keyPrefix, prefix, name, this.candidate);
    this.campaign();
  }

  close(): void {
    if (this.state === 'closed') return;
    const was = this.state;
    this.state = 'closed';
    this.term = undefined;
    this.lease = undefined;
    // Closing a held term releases it: the resignation is sent at once.
    this.inner?.unsubscribe();
    this.inner = undefined;
    if (was !== 'new') this.connection?.release();
  }

  /** Resigns `term` if it is still the live one. */
  resign(term: ElectedTerm): Promise<void> {
    const lease = this.lease;
    if (this.state !== 'leader' || this.term !== term || lease === undefined) return Promise.resolve();
    this.state = 'resigning';
    this.term = undefined;
    this.lease = undefined;
    const inner = this.inner;
    // Aborts the term's signal now, and sends the resignation.
    const answered = releaseLease(lease);
    this.observer.next(null);
    const next = (): void => {
      inner?.unsubscribe();
      if (this.state !== 'resigning') return;
      this.campaign();
    };
    return answered.then(
      () => next(),
      (error: unknown) => {
        next();
        throw error;
      },
    );
  }

  async proclaim(term: ElectedTerm, value: string): Promise<void> {
    checkValue(value);
    const { name, redisTimeout } = this.lockSettings;
    const { connection, target, lease } = this;
    if (term.signal.aborted || this.term !== term || lease === undefined) throw over(name, term.signal.reason);
    if (connection === undefined || target === undefined) throw over(name, undefined);
    let done: boolean;
    try {
      done = await connection.deadlines.watch(
        target.proclaim(lease.token, value),
        redisTimeout,
        () => new RedisUnavailableError(name, connection.server, redisTimeout, { cause: connection.lastError }),
      );
    } catch (error) {
      throw asHoldError(name, connection, redisTimeout, error);
    }
    if (!done) throw new LockLostError(name, 'gone');
    this.candidate.value = value;
    ElectedTerm.show(term, value);
  }

  private campaign(): void {
    this.state = 'campaigning';
    const settings = this.elected ? { ...this.lockSettings, timeout: -1 } : this.lockSettings;
    let subscription: Subscription | undefined = undefined;
    let failedAtOnce: { error: unknown } | undefined;
    subscription = lockWithSettings$(settings).subscribe({
      next: (lease) => this.onTerm(lease),
      error: (error: unknown) => {
        if (subscription === undefined) failedAtOnce = { error };
        else this.onEnd(subscription, error);
      },
    });
    this.inner = subscription;
    if (failedAtOnce !== undefined) this.onEnd(subscription, failedAtOnce.error);
  }

  private onTerm(lease: Lease): void {
    if (this.state !== 'campaigning') return;
    this.state = 'leader';
    this.elected = true;
    const term = new ElectedTerm(this, lease, this.lockSettings.prefix, this.candidate.value);
    this.term = term;
    this.lease = lease;
    this.observer.next(term);
  }

  /** The campaign or the term of `from` ended with `error`. */
  private onEnd(from: Subscription, error: unknown): void {
    if (this.inner !== from || this.state === 'closed') return;
    const wasLeader = this.state === 'leader';
    this.term = undefined;
    this.lease = undefined;
    if (wasLeader) this.observer.next(null);
    if (wasLeader && error instanceof LockLostError) {
      this.campaign();
      return;
    }
    this.close();
    this.observer.error(error);
  }
}

// eslint-disable-next-line @typescript-eslint/unbound-method -- called with the signal as `this`
const abortedGetter = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'aborted')?.get as ((this: AbortSignal) => boolean) | undefined;
const throwIfAborted = Object.getOwnPropertyDescriptor(AbortSignal.prototype, 'throwIfAborted')?.value as (this: AbortSignal) => void;

/**
 * The lease's signal, which also ends the term first when its time is up
 * each time it is read (`aborted`, `throwIfAborted()`). A leader paused past
 * its lease (SIGSTOP, a long GC pause) then runs its overdue timers in due
 * order, its own before the one that would end the term: a timer that
 * checks the signal before acting finds it aborted, with LockLostError.
 */
function checkedSignal(lease: Lease): AbortSignal {
  const signal = lease.signal;
  if (abortedGetter === undefined) return signal;
  Object.defineProperties(signal, {
    aborted: {
      get: () => {
        checkLease(lease);
        return abortedGetter.call(signal);
      },
    },
    throwIfAborted: {
      value: () => {
        checkLease(lease);
        throwIfAborted.call(signal);
      },
    },
  });
  return signal;
}

/** The error for a proclaim on a term that is over. */
function over(name: string, reason: unknown): LockLostError {
  if (reason instanceof LockLostError) return reason;
  return new LockLostError(name, 'released', { cause: reason });
}

class ElectedTerm implements Term {
  readonly name: string;
  readonly fence: number;
  readonly #candidacy: Candidacy;
  readonly #signal: AbortSignal;
  #value: string;

  constructor(
    candidacy: Candidacy,
    lease: Lease,
    readonly prefix: string,
    value: string,
  ) {
    this.#candidacy = candidacy;
    this.#value = value;
    this.#signal = checkedSignal(lease);
    this.name = lease.name;
    this.fence = lease.fence;
  }

  get value(): string {
    return this.#value;
  }

  /** A proclaim changed the term's value (only its candidacy says so). */
  static show(term: ElectedTerm, value: string): void {
    term.#value = value;
  }

  get signal(): AbortSignal {
    return this.#signal;
  }

  resign(): Promise<void> {
    return this.#candidacy.resign(this);
  }

  proclaim(value: string): Promise<void> {
    return this.#candidacy.proclaim(this, value);
  }
}
