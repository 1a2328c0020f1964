import type { Subscription } from 'rxjs';
import * as yadl from '../../src/index';
import { lock$, lockAll$, RedisLock, type Lease, type LockOptions } from '../../src/index';
import { lockKeys } from '../../src/redis/keys';
import { held } from './held';
import type { AdapterOptions, ContenderSpec, Held, LockAdapter } from './types';

/** yadl takes a URL, so that it opens (and shares) its own connections, named for CLIENT LIST. */
export function namedUrl(url: string, connectionName: string): string {
  const parsed = new URL(url);
  parsed.searchParams.set('connectionName', connectionName);
  return parsed.toString();
}

/** On a cluster (scenario 8): yadl's `{ cluster: seeds }`, its connections named the same way. */
function redisSource(options: AdapterOptions): NonNullable<LockOptions['redis']> {
  if (options.cluster === undefined) return namedUrl(options.url, options.connectionName);
  return { cluster: options.cluster.map(({ host, port }) => ({ host, port })), options: { redisOptions: { connectionName: options.connectionName } } };
}

/** yadl's fair line (`fair: true`, with the handoffGrace the scenario asks for), or nothing: the default mode. */
function lineOptions(options: AdapterOptions, fair: boolean): { fair?: true; handoffGrace?: number } {
  if (!fair) return {};
  return { fair: true, ...(options.handoffGraceMs === undefined ? {} : { handoffGrace: options.handoffGraceMs }) };
}

/**
 * One lock$ subscription: its observer and its Held in one object, with
 * methods rather than closures (under tsx every named closure made per lock
 * gets a property dictionary of its own; see held.ts).
 */
class Lock$Hold implements Held {
  /** Set as subscribe returns; lock$ emits asynchronously, once Redis answered. */
  subscription: Subscription | undefined;
  fence: number | undefined;

  constructor(
    private readonly onHeld: (held: Held) => void,
    private readonly onError?: (error: Error) => void,
  ) {}

  next(lease: Lease): void {
    this.fence = lease.fence;
    this.onHeld(this);
  }

  /** After the hold, an error (a lost lease) ends the subscription; the benchmark has nothing to do. */
  error(error: unknown): void {
    this.onError?.(error instanceof Error ? error : new Error(String(error)));
  }

  /** lock$ releases on unsubscribe, in the background. */
  release(): Promise<void> {
    this.subscription?.unsubscribe();
    return Promise.resolve();
  }
}

class Lock$Adapter implements LockAdapter {
  private readonly redis: NonNullable<LockOptions['redis']>;

  constructor(
    private readonly options: AdapterOptions,
    private readonly fair = false,
  ) {
    this.redis = redisSource(options);
  }

  acquire(name: string, signal?: AbortSignal): Promise<Held> {
    return new Promise<Held>((resolve, reject) => {
      const hold = new Lock$Hold(resolve, reject);
      hold.subscription = lock$(name, this.lockOptions(signal)).subscribe(hold);
    });
  }

  /** lockAll$: every name or none, in one script on one server. */
  acquireAll(names: readonly string[], signal?: AbortSignal): Promise<Held> {
    return new Promise<Held>((resolve, reject) => {
      const { fair: _fair, handoffGrace: _grace, ...options } = this.lockOptions(signal);
      const subscription: Subscription = lockAll$(names, options).subscribe({
        next: () => resolve({ release: () => Promise.resolve(subscription.unsubscribe()) }),
        error: (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
      });
    });
  }

  /** A bare subscription: what a reactive caller keeps per waiter. */
  enqueue(name: string, onHeld: (held: Held) => void): void {
    const hold = new Lock$Hold(onHeld);
    hold.subscription = lock$(name, this.lockOptions()).subscribe(hold);
  }

  private lockOptions(signal?: AbortSignal): LockOptions {
    const { prefix, leaseMs } = this.options;
    return {
      redis: this.redis,
      prefix,
      ...(signal === undefined ? {} : { signal }),
      ...(leaseMs === undefined ? {} : { lease: leaseMs }),
      ...lineOptions(this.options, this.fair),
    };
  }

  close(): Promise<void> {
    // yadl closes the connections it opened from the URL after 1 s idle.
    return Promise.resolve();
  }
}

type LockClass = new (
  name: string,
  options: { redis: string; prefix: string; lease?: number; fair?: boolean; handoffGrace?: number },
) => RedisLock;

class FacadeAdapter implements LockAdapter {
  private readonly redis: string;

  constructor(
    private readonly options: AdapterOptions,
    private readonly Lock: LockClass = RedisLock,
    private readonly fair = false,
  ) {
    this.redis = namedUrl(options.url, options.connectionName);
  }

  async acquire(name: string, signal?: AbortSignal): Promise<Held> {
    const lock = this.lock(name);
    if (!(await lock.acquire(signal === undefined ? {} : { signal }))) throw new Error(`RedisLock ${name}: acquire returned false`);
    return held(() => lock.release(), lock.fence);
  }

  /** A RedisLock and its acquire promise: what a promise caller keeps per waiter. */
  enqueue(name: string, onHeld: (held: Held) => void): void {
    const lock = this.lock(name);
    lock.acquire().then(
      () => onHeld(held(() => lock.release())),
      () => undefined,
    );
  }

  private lock(name: string): RedisLock {
    const { prefix, leaseMs } = this.options;
    return new this.Lock(name, {
      redis: this.redis,
      prefix,
      ...(leaseMs === undefined ? {} : { lease: leaseMs }),
      ...lineOptions(this.options, this.fair),
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

const yadlKey = (prefix: string, name: string): string => lockKeys(prefix, name, 0).state;

const FAIR_GRACE = 'handoffGrace 2000 ms (the default; scenario 9: 500 ms)';

export const yadlContenders: readonly ContenderSpec[] = [
  {
    id: 'yadl-lock',
    label: 'yadl lock$',
    family: 'yadl',
    packageName: 'yadl',
    settings:
      'defaults (renewed lease 30 s; scenario 4: lease 1000 ms); redis given as URL (scenario 8: { cluster: seeds } on the cluster); released by unsubscribe',
    polling: false,
    inProcess: false,
    aggressive: false,
    create: (options) => Promise.resolve(new Lock$Adapter(options)),
    key: yadlKey,
  },
  {
    id: 'yadl-facade',
    label: 'yadl RedisLock',
    family: 'yadl',
    packageName: 'yadl',
    settings: 'defaults (renewed lease 30 s); redis given as URL; a new RedisLock per acquire; release() awaited',
    polling: false,
    inProcess: false,
    aggressive: false,
    create: (options) => Promise.resolve(new FacadeAdapter(options)),
    key: yadlKey,
  },
  {
    id: 'yadl-lock-fair',
    label: 'yadl lock$ fair',
    family: 'yadl',
    packageName: 'yadl',
    settings: `lock$(name, { fair: true }): a FIFO line across processes, a release grants the lock to its head; ${FAIR_GRACE}; otherwise as yadl lock$`,
    polling: false,
    inProcess: false,
    aggressive: false,
    fair: true,
    create: (options) => Promise.resolve(new Lock$Adapter(options, true)),
    key: yadlKey,
  },
  {
    id: 'yadl-facade-fair',
    label: 'yadl RedisLock fair',
    family: 'yadl',
    packageName: 'yadl',
    settings: `new RedisLock(name, { fair: true }); ${FAIR_GRACE}; otherwise as yadl RedisLock`,
    polling: false,
    inProcess: false,
    aggressive: false,
    fair: true,
    create: (options) => Promise.resolve(new FacadeAdapter(options, RedisLock, true)),
    key: yadlKey,
  },
  {
    id: 'yadl-rw',
    label: 'yadl RedisReadLock + RedisWriteLock',
    family: 'yadl',
    packageName: 'yadl',
    settings: 'defaults; readers RedisReadLock, writers RedisWriteLock (an exclusive acquire here is a write lock)',
    polling: false,
    inProcess: false,
    aggressive: false,
    create: (options) => {
      // Looked up at run time: the read/write classes are newer than this harness.
      const write = (yadl as unknown as Record<string, unknown>).RedisWriteLock;
      if (typeof write !== 'function') return Promise.reject(new Error('RedisWriteLock is not available'));
      return Promise.resolve(new FacadeAdapter(options, write as LockClass));
    },
    key: yadlKey,
  },
];
