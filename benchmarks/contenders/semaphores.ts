import { Redis } from 'ioredis';
import { Semaphore } from 'redis-semaphore';
import type { Subscription } from 'rxjs';
import { semaphore$ } from '../../src/index';
import type { AdapterOptions, ContenderSpec, Held, LockAdapter } from './types';
import { namedUrl } from './yadl';

/** Every semaphore contender's limit: scenario s10's. `acquire(name)` takes one permit of it. */
export const SEMAPHORE_LIMIT = 5;
const ACQUIRE_TIMEOUT_MS = 120_000;

/** yadl's semaphore$: one subscription per grant, given back on unsubscribe. */
class YadlSemaphoreAdapter implements LockAdapter {
  private readonly redis: string;

  constructor(private readonly options: AdapterOptions) {
    this.redis = namedUrl(options.url, options.connectionName);
  }

  acquire(name: string, signal?: AbortSignal): Promise<Held> {
    const { prefix, leaseMs } = this.options;
    return new Promise<Held>((resolve, reject) => {
      const subscription: Subscription = semaphore$(name, {
        redis: this.redis,
        prefix,
        limit: SEMAPHORE_LIMIT,
        ...(leaseMs === undefined ? {} : { lease: leaseMs }),
        ...(signal === undefined ? {} : { signal }),
      }).subscribe({
        next: (lease) => resolve({ release: () => Promise.resolve(subscription.unsubscribe()), fence: lease.fence }),
        error: (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
      });
    });
  }

  close(): Promise<void> {
    return Promise.resolve();
  }
}

/** redis-semaphore's Semaphore (the limit passed on every call, as it requires). */
class RedisSemaphoreAdapter implements LockAdapter {
  private readonly client: Redis;

  constructor(
    private readonly options: AdapterOptions,
    private readonly retryInterval: number | undefined,
  ) {
    this.client = new Redis(options.url, { connectionName: options.connectionName });
  }

  async acquire(name: string, signal?: AbortSignal): Promise<Held> {
    const { prefix, leaseMs } = this.options;
    const semaphore = new Semaphore(this.client, `${prefix}:${name}`, SEMAPHORE_LIMIT, {
      acquireTimeout: ACQUIRE_TIMEOUT_MS,
      ...(leaseMs === undefined ? {} : { lockTimeout: leaseMs }),
      ...(this.retryInterval === undefined ? {} : { retryInterval: this.retryInterval }),
    });
    await semaphore.acquire(signal);
    return { release: () => semaphore.release() };
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

function peer(id: string, label: string, retryInterval: number | undefined, settings: string): ContenderSpec {
  return {
    id,
    label,
    family: 'peer',
    packageName: 'redis-semaphore',
    settings,
    polling: true,
    inProcess: false,
    aggressive: retryInterval !== undefined,
    create: (options) => Promise.resolve(new RedisSemaphoreAdapter(options, retryInterval)),
  };
}

export const semaphoreContenders: readonly ContenderSpec[] = [
  {
    id: 'yadl-semaphore',
    label: 'yadl semaphore$',
    family: 'yadl',
    packageName: 'yadl',
    settings: `limit ${SEMAPHORE_LIMIT}, 1 permit per grant; defaults (lease 30 s renewed every 10 s; wake-ups by notification)`,
    polling: false,
    inProcess: false,
    aggressive: false,
    create: (options) => Promise.resolve(new YadlSemaphoreAdapter(options)),
  },
  peer(
    'redis-semaphore-sem',
    'redis-semaphore Semaphore',
    undefined,
    `limit ${SEMAPHORE_LIMIT}; defaults: retryInterval 10 ms, lockTimeout 10 s; acquireTimeout 120 s`,
  ),
  peer(
    'redis-semaphore-sem-fast',
    'redis-semaphore Semaphore (retry 1 ms)',
    1,
    `limit ${SEMAPHORE_LIMIT}; retryInterval 1 ms; lockTimeout 10 s; acquireTimeout 120 s`,
  ),
];
