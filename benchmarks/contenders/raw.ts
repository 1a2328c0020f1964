import { randomBytes } from 'node:crypto';
import { Cluster, Redis } from 'ioredis';
import { sleep } from '../support/clock';
import type { AdapterOptions, ContenderSpec, Held, LockAdapter } from './types';
import { held } from './held';

/** The floors' hold when no lease is asked for; as long as the peers' (10 s). */
const DEFAULT_PX = 10_000;

/** Compare-and-delete: the least a correct release does. */
const RELEASE = `if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end return 0`;
/** The same, and wakes the waiters subscribed to the lock's channel. */
const RELEASE_AND_PUBLISH = `if redis.call('GET', KEYS[1]) == ARGV[1] then
  redis.call('DEL', KEYS[1])
  redis.call('PUBLISH', ARGV[2], 'released')
  return 1
end
return 0`;
/** SET NX PX, or how long the holder has left (so that a waiter sleeps until then at most). */
const ACQUIRE_OR_PTTL = `if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then return -1 end
return redis.call('PTTL', KEYS[1])`;

interface RawCommands {
  rawRelease(key: string, token: string): Promise<number>;
  rawReleasePublish(key: string, token: string, channel: string): Promise<number>;
  rawAcquire(key: string, token: string, px: number): Promise<number>;
}

type RawClient = (Redis | Cluster) & RawCommands;

/** An ioredis Cluster on the seeds of scenario 8, else a client of `url`. */
function rawClient(options: AdapterOptions): RawClient {
  const client =
    options.cluster === undefined
      ? new Redis(options.url, { connectionName: options.connectionName })
      : new Cluster(
          options.cluster.map(({ host, port }) => ({ host, port })),
          { redisOptions: { connectionName: options.connectionName } },
        );
  client.defineCommand('rawRelease', { numberOfKeys: 1, lua: RELEASE });
  client.defineCommand('rawReleasePublish', { numberOfKeys: 1, lua: RELEASE_AND_PUBLISH });
  client.defineCommand('rawAcquire', { numberOfKeys: 1, lua: ACQUIRE_OR_PTTL });
  return client as RawClient;
}

const token = (): string => randomBytes(16).toString('hex');

/** The uncontended floor: SET NX PX, and the Lua compare-and-delete. Retries every 1 ms if ever contended. */
class RawAdapter implements LockAdapter {
  private readonly client: RawClient;

  constructor(private readonly options: AdapterOptions) {
    this.client = rawClient(options);
  }

  async acquire(name: string): Promise<Held> {
    const key = `${this.options.prefix}:raw:${name}`;
    const value = token();
    while ((await this.client.set(key, value, 'PX', this.options.leaseMs ?? DEFAULT_PX, 'NX')) !== 'OK') await sleep(1);
    return held(() => this.client.rawRelease(key, value));
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

/**
 * The notified floor: a waiter SUBSCRIBEs to the lock's channel (once, and
 * stays subscribed) before its first attempt, and tries again when a release
 * PUBLISHes there or when the holder's PTTL runs out. Every waiter of the
 * process tries on each message (no queue): the plainest correct design.
 */
class NotifiedAdapter implements LockAdapter {
  private readonly client: RawClient;
  private readonly subscriber: Redis;
  private readonly subscribed = new Map<string, Promise<unknown>>();
  private readonly listeners = new Map<string, Set<() => void>>();

  constructor(private readonly options: AdapterOptions) {
    this.client = rawClient(options);
    this.subscriber = new Redis(options.url, { connectionName: options.connectionName });
    this.subscriber.on('message', (channel: string) => {
      for (const listener of [...(this.listeners.get(channel) ?? [])]) listener();
    });
  }

  async acquire(name: string, signal?: AbortSignal): Promise<Held> {
    const key = `${this.options.prefix}:rawn:${name}`;
    const channel = `${key}:released`;
    const value = token();
    await this.subscribe(channel);
    for (;;) {
      signal?.throwIfAborted();
      const woken = this.nextMessage(channel);
      const left = await this.client.rawAcquire(key, value, this.options.leaseMs ?? DEFAULT_PX);
      if (left === -1) {
        woken.cancel();
        return held(() => this.client.rawReleasePublish(key, value, channel));
      }
      // -2: freed between SET and PTTL; try again at once.
      await Promise.race([woken.promise, sleep(left >= 0 ? left + 1 : 0)]);
      woken.cancel();
    }
  }

  async close(): Promise<void> {
    await Promise.all([this.client, this.subscriber].map((c) => c.quit().catch(() => c.disconnect())));
  }

  private subscribe(channel: string): Promise<unknown> {
    let done = this.subscribed.get(channel);
    if (done === undefined) {
      done = this.subscriber.subscribe(channel);
      this.subscribed.set(channel, done);
    }
    return done;
  }

  /** Listens before the attempt, so that a release between the attempt and the wait is not missed. */
  private nextMessage(channel: string): { promise: Promise<void>; cancel: () => void } {
    let set = this.listeners.get(channel);
    if (set === undefined) {
      set = new Set();
      this.listeners.set(channel, set);
    }
    const listeners = set;
    let listener = (): void => undefined;
    const promise = new Promise<void>((resolve) => {
      listener = () => {
        listeners.delete(listener);
        resolve();
      };
      listeners.add(listener);
    });
    return { promise, cancel: () => listeners.delete(listener) };
  }
}

/** Not a lock: two PINGs, the two round trips any acquire + release needs. */
class PingAdapter implements LockAdapter {
  private readonly client: Redis;

  constructor(options: AdapterOptions) {
    this.client = new Redis(options.url, { connectionName: options.connectionName });
  }

  async acquire(): Promise<Held> {
    await this.client.ping();
    return held(() => this.client.ping());
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

const floor = {
  family: 'floor',
  packageName: 'ioredis',
  polling: false,
  inProcess: false,
  aggressive: false,
} as const;

export const rawContenders: readonly ContenderSpec[] = [
  {
    ...floor,
    id: 'ping',
    label: 'floor: PING round trips',
    settings: 'a "pair" is two PINGs (ioredis)',
    create: (options) => Promise.resolve(new PingAdapter(options)),
  },
  {
    ...floor,
    id: 'raw',
    label: 'floor: SET NX PX + Lua release',
    settings: 'SET key token NX PX 10000; release: Lua GET == token then DEL (EVALSHA); scenario 8 on the cluster: an ioredis Cluster',
    create: (options) => Promise.resolve(new RawAdapter(options)),
    key: (prefix, name) => `${prefix}:raw:${name}`,
  },
  {
    ...floor,
    id: 'raw-notified',
    label: 'floor: notified raw lock',
    settings:
      'Lua SET NX PX (else PTTL); release: Lua compare-and-delete + PUBLISH; waiters SUBSCRIBEd before their first attempt, retry on message or when the PTTL runs out',
    create: (options) => Promise.resolve(new NotifiedAdapter(options)),
    key: (prefix, name) => `${prefix}:rawn:${name}`,
  },
];
