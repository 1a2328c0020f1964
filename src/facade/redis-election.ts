import type { Subscription } from 'rxjs';
import { elect$ } from '../core/elect';
import { checkValue, NOT_FOR_ELECTIONS, resolveElectOptions, type ElectOptions } from '../core/election-options';
import { checkName, checkOptionsObject, checkSignal, checkTimeout } from '../core/options';
import type { Leader, Term } from '../core/term';
import { LockTimeoutError, RedisUnavailableError } from '../errors';
import { asHoldError } from '../core/lock-state';
import { openConnection } from '../redis/connection';
import { electionTarget } from '../redis/kinds/election-kind';
import { LOCK_OPTIONS, resolveFacadeOptions, type RedisLockOptions } from './facade-options';

/** The lock facade's connection and lease options, a value, and what handoffGrace means here. */
export interface RedisElectionOptions
  extends Pick<
    RedisLockOptions,
    'prefix' | 'lease' | 'redis' | 'host' | 'port' | 'password' | 'db' | 'redisTimeout' | 'replicas' | 'replicaTimeout' | 'keyspaceEvents'
  > {
  /** What this candidate tells everyone while it leads; at most 4096 characters. Default `<hostname>:<pid>`. */
  value?: string;
  /** Ms the other candidates have to take over after this one resigns. Default 2000. */
  handoffGrace?: number;
}

export interface CampaignOptions {
  /** Ms to wait for leadership; -1 (default) forever, 0 one attempt. */
  timeout?: number;
  /** Aborting it abandons the wait (the candidacy ends unless it leads): campaign rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** The lock facade's options an election takes (see NOT_FOR_ELECTIONS), and its value. */
const ELECTION_OPTIONS = [...LOCK_OPTIONS.filter((option) => !NOT_FOR_ELECTIONS.has(option)), 'value'] as const;
const CAMPAIGN_OPTIONS = ['timeout', 'signal'] as const;

/** A wait of one `campaign` call for the candidacy's next term. */
interface Waiter {
  settle(outcome: { leader: boolean } | { error: unknown }): void;
}

/**
 * Leader election with promises, over `elect$`. `campaign()` makes the
 * instance a candidate and resolves true once it leads (false when
 * `timeout` passes first); it stays a candidate until `resign()` (or
 * `await using` ends), so after a lost term it may lead again (`isLeader`,
 * `term`). The constructor does no Redis I/O.
 */
export class RedisElection {
  readonly name: string;
  private readonly options: ElectOptions;
  private candidacy: Subscription | undefined;
  private current: Term | undefined;
  private readonly waiters = new Set<Waiter>();

  constructor(name: string, options?: RedisElectionOptions) {
    this.name = checkName(name, 'election name');
    const opts = checkOptionsObject(options, ELECTION_OPTIONS, 'election options');
    const { value, handoffGrace, ...lockOptions } = opts;
    const facade = resolveFacadeOptions(lockOptions);
    this.options = {
      redis: facade.redis,
      prefix: facade.prefix,
      lease: facade.lease,
      redisTimeout: facade.redisTimeout,
      replicas: facade.replicas,
      replicaTimeout: facade.replicaTimeout,
      keyspaceEvents: facade.keyspaceEvents,
      ...(value === undefined ? {} : { value: checkValue(value) }),
      ...(handoffGrace === undefined ? {} : { handoffGrace: handoffGrace as number }),
    };
    resolveElectOptions(this.name, this.options, 'election options');
  }

  /** Whether this instance leads now. */
  get isLeader(): boolean {
    return this.current !== undefined && !this.current.signal.aborted;
  }

  /** The current term while this instance leads. */
  get term(): Term | undefined {
    return this.isLeader ? this.current : undefined;
  }

  /** Becomes a candidate (if it is not one) and resolves true once it leads, false when `timeout` passes first. */
  campaign(options?: CampaignOptions): Promise<boolean> {
    let timeout: number;
    let signal: AbortSignal | undefined;
    try {
      const opts = checkOptionsObject(options, CAMPAIGN_OPTIONS, 'campaign options');
      timeout = checkTimeout(opts.timeout);
      signal = checkSignal(opts.signal);
    } catch (error) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- a TypeError or RangeError from validation
      return Promise.reject(error);
    }
    if (this.isLeader) return Promise.resolve(true);
    if (signal?.aborted) {
      // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
      return Promise.reject(signal.reason);
    }
    // A candidacy this call starts ends with it if it gives up; one that led before stays.
    const owns = this.candidacy === undefined;
    return new Promise<boolean>((resolve, reject) => {
      const onAbort = (): void => waiter.settle({ error: signal?.reason });
      const timer = timeout > 0 ? setTimeout(() => waiter.settle({ leader: false }), timeout) : undefined;
      const waiter: Waiter = {
        settle: (outcome) => {
          if (!this.waiters.delete(waiter)) return;
          clearTimeout(timer);
          signal?.removeEventListener('abort', onAbort);
          // Nobody waits for a term any more and none came: the candidacy this call started ends.
          if (owns && this.waiters.size === 0 && !this.isLeader && !('leader' in outcome && outcome.leader)) this.end();
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- signal.reason passes through as given
          if ('error' in outcome) reject(outcome.error);
          else resolve(outcome.leader);
        },
      };
      this.waiters.add(waiter);
      signal?.addEventListener('abort', onAbort, { once: true });
      if (this.candidacy === undefined) this.stand(timeout === 0 ? 0 : -1);
      else if (timeout === 0) waiter.settle({ leader: false });
    });
  }

  /** Ends the candidacy; a term it leads ends at once (the next candidate takes over). Resolves once Redis took it. */
  async resign(): Promise<void> {
    const resigned = this.term?.resign();
    this.end();
    await resigned;
  }

  /** Who leads now (one read), whoever they are. */
  async leader(): Promise<Leader | null> {
    const { redis, prefix, redisTimeout } = resolveElectOptions(this.name, this.options, 'election options').lock;
    const connection = openConnection(redis);
    try {
      const target = electionTarget(connection.client, connection.db, connection.keyPrefix, prefix, this.name);
      const reading = await connection.deadlines.watch(
        target.read(),
        redisTimeout,
        () => new RedisUnavailableError(this.name, connection.server, redisTimeout, { cause: connection.lastError }),
      );
      return reading.held ? { fence: reading.fence, value: reading.value } : null;
    } catch (error) {
      throw asHoldError(this.name, connection, redisTimeout, error);
    } finally {
      connection.release();
    }
  }

  /** `await using election = new RedisElection(...)`: resigns when the scope ends. */
  async [Symbol.asyncDispose](): Promise<void> {
    await this.resign();
  }

  private stand(timeout: number): void {
    // `let`: elect$ may error during subscribe (a first attempt that fails at once), before the assignment.
    let subscription: Subscription | undefined = undefined;
    subscription = elect$(this.name, { ...this.options, timeout }).subscribe({
      next: (term) => {
        this.current = term ?? undefined;
        if (term !== null) for (const waiter of [...this.waiters]) waiter.settle({ leader: true });
      },
      error: (error: unknown) => {
        if (subscription === undefined || this.candidacy === subscription) this.candidacy = undefined;
        this.current = undefined;
        const outcome = error instanceof LockTimeoutError ? { leader: false } : { error };
        for (const waiter of [...this.waiters]) waiter.settle(outcome);
      },
    });
    if (!subscription.closed) this.candidacy = subscription;
  }

  private end(): void {
    const candidacy = this.candidacy;
    this.candidacy = undefined;
    this.current = undefined;
    candidacy?.unsubscribe();
  }
}
