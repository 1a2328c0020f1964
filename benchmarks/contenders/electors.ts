/**
 * Leader election contenders (scenario 12): yadl's elect$ and the two npm
 * packages that poll a `SET NX PX`, redis-leader and safe-redis-leader, at
 * their defaults. They are not locks: `create` refuses, and the scenario
 * uses `createElector`.
 */
import { createRequire } from 'node:module';
import { Redis } from 'ioredis';
import type { Subscription } from 'rxjs';
import { elect$, type Term } from '../../src/index';
import type { ContenderSpec } from './types';

const require = createRequire(import.meta.url);

/** One candidate process's candidacy. */
export interface Elector {
  /** Campaigns until closed; `onElected` each time this candidate becomes leader. */
  start(onElected: () => void): void;
  /** Ends the current term; the candidate campaigns on. */
  resign(): Promise<void>;
  close(): Promise<void>;
}

export interface ElectorOptions {
  readonly url: string;
  readonly prefix: string;
  readonly connectionName: string;
  /** yadl's lease (the peers run at their defaults). */
  readonly leaseMs: number;
}

/** yadl's lease in scenario 12. */
export const YADL_ELECTION_LEASE_MS = 5_000;
/** safe-redis-leader has no defaults: its README's example values. */
const SAFE_TTL_MS = 1_500;
const SAFE_WAIT_MS = 3_000;
/** redis-leader's defaults (index.js). */
const REDIS_LEADER_TTL_MS = 10_000;
const REDIS_LEADER_WAIT_MS = 1_000;

class YadlElector implements Elector {
  private readonly client: Redis;
  private subscription: Subscription | undefined;
  private term: Term | null = null;

  constructor(private readonly options: ElectorOptions) {
    this.client = new Redis(options.url, { connectionName: options.connectionName });
  }

  start(onElected: () => void): void {
    const { prefix, leaseMs } = this.options;
    this.subscription = elect$('leader', { redis: this.client, prefix, lease: leaseMs }).subscribe((term) => {
      this.term = term;
      if (term !== null) onElected();
    });
  }

  async resign(): Promise<void> {
    await this.term?.resign();
  }

  async close(): Promise<void> {
    this.subscription?.unsubscribe();
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

interface RedisLeader {
  on(event: 'elected' | 'revoked' | 'error', listener: (error?: unknown) => void): void;
  once(event: 'revoked', listener: () => void): void;
  elect(): void;
  stop(): void;
}

/**
 * redis-leader: SET NX PX every `wait` (1000 ms), renewal every ttl/2. It has
 * no resign that keeps the candidate in the running: stop(), then elect()
 * again after two polls, so that the other candidates get their turn.
 */
class RedisLeaderElector implements Elector {
  private readonly client: Redis;
  private readonly leader: RedisLeader;
  private rejoin: NodeJS.Timeout | undefined;

  constructor(options: ElectorOptions) {
    this.client = new Redis(options.url, { connectionName: options.connectionName });
    const Leader = require('redis-leader') as new (redis: Redis, options: { key: string }) => RedisLeader;
    this.leader = new Leader(this.client, { key: `${options.prefix}:leader` });
    this.leader.on('error', () => undefined);
  }

  start(onElected: () => void): void {
    this.leader.on('elected', () => onElected());
    this.leader.elect();
  }

  resign(): Promise<void> {
    return new Promise((resolve) => {
      this.leader.once('revoked', () => {
        this.rejoin = setTimeout(() => this.leader.elect(), 2 * REDIS_LEADER_WAIT_MS);
        resolve();
      });
      this.leader.stop();
    });
  }

  async close(): Promise<void> {
    clearTimeout(this.rejoin);
    this.leader.stop();
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

interface SafeRedisLeader {
  elect(): Promise<void>;
  stop(): Promise<void>;
  shutdown(): Promise<void>;
  on(event: 'elected' | 'demoted' | 'error', listener: () => void): void;
}

/** safe-redis-leader: the same polling with atomic renew and stop; resign is stop(), elect() again after two polls. */
class SafeRedisLeaderElector implements Elector {
  private readonly client: Redis;
  private leader: SafeRedisLeader | undefined;
  private rejoin: NodeJS.Timeout | undefined;

  constructor(private readonly options: ElectorOptions) {
    this.client = new Redis(options.url, { connectionName: options.connectionName });
  }

  start(onElected: () => void): void {
    const { createSafeRedisLeader } = require('safe-redis-leader') as {
      createSafeRedisLeader(options: { asyncRedis: Redis; ttl: number; wait: number; key: string }): Promise<SafeRedisLeader>;
    };
    void createSafeRedisLeader({ asyncRedis: this.client, ttl: SAFE_TTL_MS, wait: SAFE_WAIT_MS, key: `${this.options.prefix}:leader` }).then(
      (leader) => {
        this.leader = leader;
        leader.on('error', () => undefined);
        leader.on('elected', () => onElected());
        return leader.elect();
      },
    );
  }

  async resign(): Promise<void> {
    const leader = this.leader;
    if (leader === undefined) return;
    await leader.stop();
    this.rejoin = setTimeout(() => void leader.elect(), 2 * SAFE_WAIT_MS);
  }

  async close(): Promise<void> {
    clearTimeout(this.rejoin);
    await this.leader?.shutdown().catch(() => undefined);
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

const makers: Record<string, (options: ElectorOptions) => Elector> = {
  'yadl-election': (options) => new YadlElector(options),
  'redis-leader': (options) => new RedisLeaderElector(options),
  'safe-redis-leader': (options) => new SafeRedisLeaderElector(options),
};

export function createElector(id: string, options: ElectorOptions): Elector {
  const make = makers[id];
  if (make === undefined) throw new Error(`${id} is not an elector`);
  return make(options);
}

function spec(id: string, label: string, family: ContenderSpec['family'], packageName: string, settings: string): ContenderSpec {
  return {
    id,
    label,
    family,
    packageName,
    settings,
    polling: family === 'peer',
    inProcess: false,
    aggressive: false,
    create: () => Promise.reject(new Error(`${id} is a leader election, not a lock (scenario 12 only)`)),
  };
}

export const electorContenders: readonly ContenderSpec[] = [
  spec('yadl-election', 'yadl elect$', 'yadl', 'yadl', `lease ${YADL_ELECTION_LEASE_MS} ms (renewed every lease / 3), handoffGrace 2000 ms`),
  spec(
    'redis-leader',
    'redis-leader',
    'peer',
    'redis-leader',
    `defaults: ttl ${REDIS_LEADER_TTL_MS} ms (renewed every ttl / 2), wait ${REDIS_LEADER_WAIT_MS} ms between SET NX attempts`,
  ),
  spec(
    'safe-redis-leader',
    'safe-redis-leader',
    'peer',
    'safe-redis-leader',
    `no defaults (ttl and wait are required): its README's ttl ${SAFE_TTL_MS} ms, wait ${SAFE_WAIT_MS} ms`,
  ),
];
