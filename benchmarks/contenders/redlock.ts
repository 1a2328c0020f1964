import { Redlock as SesameRedlock } from '@sesamecare-oss/redlock';
import { Redis } from 'ioredis';
import Redlock from 'redlock';
import type { AdapterOptions, ContenderSpec, Held, LockAdapter } from './types';
import { held } from './held';

/** redlock needs a duration; 10 s, like redis-semaphore's default lockTimeout. */
const DEFAULT_DURATION_MS = 10_000;

interface RetrySettings {
  retryCount: number;
  retryDelay?: number;
  retryJitter?: number;
}

/** What both redlock packages share. */
interface RedlockLike {
  acquire(resources: string[], duration: number): Promise<{ release(): Promise<unknown> }>;
  release(lock: never, settings: { retryCount: number }): Promise<unknown>;
}

type Factory = (client: Redis, settings: RetrySettings) => RedlockLike;

class RedlockAdapter implements LockAdapter {
  private readonly client: Redis;
  private readonly redlock: RedlockLike;

  constructor(
    private readonly options: AdapterOptions,
    factory: Factory,
    settings: RetrySettings,
  ) {
    this.client = new Redis(options.url, { connectionName: options.connectionName });
    this.redlock = factory(this.client, settings);
  }

  async acquire(name: string): Promise<Held> {
    const lock = await this.redlock.acquire([`${this.options.prefix}:${name}`], this.options.leaseMs ?? DEFAULT_DURATION_MS);
    // A failed release would otherwise retry forever with retryCount -1.
    return held(() => this.redlock.release(lock as never, { retryCount: 0 }));
  }

  /** redlock's multi-resource lock: one script takes all the keys or none, retried on its timer. */
  async acquireAll(names: readonly string[]): Promise<Held> {
    const lock = await this.redlock.acquire(
      names.map((name) => `${this.options.prefix}:${name}`),
      this.options.leaseMs ?? DEFAULT_DURATION_MS,
    );
    return { release: async () => void (await this.redlock.release(lock as never, { retryCount: 0 })) };
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

const redlockFactory: Factory = (client, settings) => new Redlock([client], settings) as unknown as RedlockLike;
const sesameFactory: Factory = (client, settings) => new SesameRedlock([client], settings) as unknown as RedlockLike;

/** Waits of several seconds must not give up: retryCount -1 (forever) in every row. */
const DEFAULTS: RetrySettings = { retryCount: -1 };
/** The fastest retry a user would reasonably configure; the jitter keeps pollers from moving in step. */
const AGGRESSIVE: RetrySettings = { retryCount: -1, retryDelay: 10, retryJitter: 5 };

function spec(
  id: string,
  label: string,
  packageName: string,
  factory: Factory,
  settings: RetrySettings,
  description: string,
): ContenderSpec {
  return {
    id,
    label,
    family: 'peer',
    packageName,
    settings: description,
    polling: true,
    inProcess: false,
    aggressive: settings !== DEFAULTS,
    create: (options) => Promise.resolve(new RedlockAdapter(options, factory, settings)),
    key: (prefix, name) => `${prefix}:${name}`,
  };
}

const DEFAULT_TEXT = 'defaults: retryDelay 200 ms, retryJitter 100 ms; retryCount -1 (never give up); duration 10 s';
const AGGRESSIVE_TEXT = 'retryDelay 10 ms, retryJitter 5 ms, retryCount -1; duration 10 s';

export const redlockContenders: readonly ContenderSpec[] = [
  spec('redlock', 'redlock', 'redlock', redlockFactory, DEFAULTS, DEFAULT_TEXT),
  spec('redlock-fast', 'redlock (retry 10 ms)', 'redlock', redlockFactory, AGGRESSIVE, AGGRESSIVE_TEXT),
  spec('sesame', '@sesamecare-oss/redlock', '@sesamecare-oss/redlock', sesameFactory, DEFAULTS, DEFAULT_TEXT),
  spec('sesame-fast', '@sesamecare-oss/redlock (retry 10 ms)', '@sesamecare-oss/redlock', sesameFactory, AGGRESSIVE, AGGRESSIVE_TEXT),
];
