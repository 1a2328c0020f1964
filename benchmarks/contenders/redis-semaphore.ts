import { Redis } from 'ioredis';
import { Mutex } from 'redis-semaphore';
import type { AdapterOptions, ContenderSpec, Held, LockAdapter } from './types';
import { held } from './held';

/** Waits in the scenarios last seconds; the default acquireTimeout (10 s) must never be what ends one. */
const ACQUIRE_TIMEOUT_MS = 120_000;

class MutexAdapter implements LockAdapter {
  private readonly client: Redis;

  constructor(
    private readonly options: AdapterOptions,
    private readonly retryInterval: number | undefined,
  ) {
    this.client = new Redis(options.url, { connectionName: options.connectionName });
  }

  async acquire(name: string, signal?: AbortSignal): Promise<Held> {
    const { prefix, leaseMs } = this.options;
    const mutex = new Mutex(this.client, `${prefix}:${name}`, {
      acquireTimeout: ACQUIRE_TIMEOUT_MS,
      ...(leaseMs === undefined ? {} : { lockTimeout: leaseMs }),
      ...(this.retryInterval === undefined ? {} : { retryInterval: this.retryInterval }),
    });
    await mutex.acquire(signal);
    return held(() => mutex.release());
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

function spec(id: string, label: string, retryInterval: number | undefined, settings: string): ContenderSpec {
  return {
    id,
    label,
    family: 'peer',
    packageName: 'redis-semaphore',
    settings,
    polling: true,
    inProcess: false,
    aggressive: retryInterval !== undefined,
    create: (options) => Promise.resolve(new MutexAdapter(options, retryInterval)),
    key: (prefix, name) => `mutex:${prefix}:${name}`,
  };
}

export const redisSemaphoreContenders: readonly ContenderSpec[] = [
  spec(
    'redis-semaphore',
    'redis-semaphore Mutex',
    undefined,
    'defaults: retryInterval 10 ms, lockTimeout 10 s (refreshed every 8 s); acquireTimeout 120 s',
  ),
  spec('redis-semaphore-fast', 'redis-semaphore Mutex (retry 1 ms)', 1, 'retryInterval 1 ms; lockTimeout 10 s; acquireTimeout 120 s'),
];
