import type { Cluster, Redis } from 'ioredis';
import { LockError, PermitsRangeError } from '../../errors';
import type { Connection } from '../connection';
import type { AcquireReply, HoldKind, HoldTarget, InspectReply, ReleaseReply } from '../hold-kind';
import { semaphoreKeys, type LockKeys } from '../keys';
import { LuaScript } from '../lua-script';
import { luaScripts } from '../scripts/lua.generated';
import { DEFAULT_LABEL, FENCE_RETENTION_MS, runLockScript, unexpectedReply, wakeChannel } from './lock-kind';

/** What one acquisition asks of a semaphore. */
export interface SemaphoreRequest {
  /** Permits wanted at once (>= 1). */
  readonly permits: number;
  /** The limit the caller passes; 0 for none (the stored one is used). */
  readonly limit: number;
  /** Join the fair line (FIFO across processes) when blocked. */
  readonly fair: boolean;
  /** Kept beside the grant for operators; never the token. */
  readonly label: string;
}

/** A semaphore's limit and holders, as its inspect script reads them. */
export interface SemaphoreState {
  /** The stored limit, 0 when none is stored. */
  readonly limit: number;
  /** Permits held by live grants, everyone's. */
  readonly held: number;
  /** Permits of the grant of the token asked about (0: none). */
  readonly mine: number;
  /** Until the earliest grant expires (0 when nothing is held). */
  readonly waitMs: number;
  /** Tickets in the fair line. */
  readonly waiting: number;
}

const scripts = {
  acquire: new LuaScript(luaScripts.semaphore.acquire.lua, luaScripts.semaphore.acquire.numberOfKeys),
  renew: new LuaScript(luaScripts.semaphore.renew.lua, luaScripts.semaphore.renew.numberOfKeys),
  release: new LuaScript(luaScripts.semaphore.release.lua, luaScripts.semaphore.release.numberOfKeys),
  shrink: new LuaScript(luaScripts.semaphore.shrink.lua, luaScripts.semaphore.shrink.numberOfKeys),
  inspect: new LuaScript(luaScripts.semaphore.inspect.lua, luaScripts.semaphore.inspect.numberOfKeys),
  setLimit: new LuaScript(luaScripts.semaphore.setLimit.lua, luaScripts.semaphore.setLimit.numberOfKeys),
  withdraw: new LuaScript(luaScripts.semaphore.withdraw.lua, luaScripts.semaphore.withdraw.numberOfKeys),
  confirm: new LuaScript(luaScripts.semaphore.confirm.lua, luaScripts.semaphore.confirm.numberOfKeys),
};

/** For the admin operations (inspect, setLimit, shrink), which ask for no permits. */
const NO_REQUEST: SemaphoreRequest = { permits: 1, limit: 0, fair: false, label: DEFAULT_LABEL };

/**
 * The semaphore kind for one request: `shared`, since a grant may leave
 * permits for the next local waiter (the wait queue then lets it try at once).
 */
export function semaphoreKind(request: SemaphoreRequest = NO_REQUEST): HoldKind & { target(connection: Connection, prefix: string, name: string): SemaphoreTarget } {
  return {
    kind: 'semaphore',
    shared: true,
    target: (connection, prefix, name) =>
      new SemaphoreTarget(connection.client, semaphoreKeys(prefix, name, connection.db, connection.keyPrefix), request),
  };
}

/** One semaphore name on one client: the scripts of src/redis/scripts/semaphore/. */
export class SemaphoreTarget implements HoldTarget {
  readonly name: string;
  readonly slotKey: string;
  readonly channel: string;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly keys: LockKeys,
    private readonly request: SemaphoreRequest,
  ) {
    this.name = keys.name;
    this.slotKey = keys.state;
    this.channel = keys.channel;
    this.wake = wakeChannel(client, keys.channel);
    this.stateOnly = [keys.state];
  }

  /** The scripts' one key, made once. */
  private readonly stateOnly: readonly string[];

  /** Where the scripts publish wake-ups (see wakeChannel). */
  private readonly wake: string;

  async acquire(token: string, holdMs: number, waits: boolean, companions: readonly string[] = []): Promise<AcquireReply> {
    const { keys, request } = this;
    const args = [
      token,
      request.permits,
      request.limit,
      holdMs,
      FENCE_RETENTION_MS,
      waits ? '1' : '0',
      request.fair ? '1' : '0',
      this.wake,
      request.label,
      ...companions,
    ];
    const reply = await this.call('acquire', args);
    if (Array.isArray(reply) && reply.length === 5 && reply.every((n) => typeof n === 'number')) {
      const [code, value, third, fourth, ticket] = reply as [number, number, number, number, number];
      if (code === 1) return { acquired: true, fence: value, leftMs: third };
      if (code === 0) {
        return { acquired: false, waitMs: Math.max(1, value), queued: third === 1, behindWriter: false, ticket, passOn: fourth === 1 };
      }
      if (code === -1) {
        throw new LockError(
          `semaphore '${keys.name}': this acquisition passes limit ${third}, but the limit stored in Redis is ${value}; ` +
            `pass limit ${value} or none (setLimit changes it for everyone)`,
          keys.name,
        );
      }
      if (code === -2) {
        throw new LockError(
          `semaphore '${keys.name}' has no limit stored in Redis: pass one ({ limit: n }) or call setLimit(n) first`,
          keys.name,
        );
      }
      if (code === -3) {
        throw new PermitsRangeError(
          `permits must be at most the limit of semaphore '${keys.name}' stored in Redis (${value}), got ${request.permits}`,
        );
      }
    }
    throw this.unexpected('acquire', reply);
  }

  async renew(token: string, holdMs: number): Promise<number> {
    const reply = await this.call('renew', [token, holdMs, FENCE_RETENTION_MS]);
    if (typeof reply === 'number' && reply >= 0) return reply;
    throw this.unexpected('renew', reply);
  }

  async release(token: string, releaseId: string): Promise<ReleaseReply> {
    const reply = await this.call('release', [token, this.wake, releaseId]);
    if (reply === 1 || reply === 0 || reply === -1) return reply;
    throw this.unexpected('release', reply);
  }

  /**
   * Gives back `permits` of the grant of `token`, keeping the rest with its
   * fence and expiry: the permits it keeps, 0 when it holds nothing, -1 when
   * the grant has no more than `permits` (release it instead).
   */
  async shrink(token: string, permits: number, releaseId: string): Promise<number> {
    const reply = await this.call('shrink', [token, permits, this.wake, releaseId]);
    if (typeof reply === 'number' && reply >= -1) return reply;
    throw this.unexpected('shrink', reply);
  }

  /** Stores `limit` for everyone; the limit stored before (0: none). */
  async setLimit(limit: number): Promise<number> {
    const reply = await this.call('setLimit', [limit, this.wake, FENCE_RETENTION_MS]);
    if (typeof reply === 'number' && reply >= 0) return reply;
    throw this.unexpected('setLimit', reply);
  }

  async withdraw(token: string): Promise<boolean> {
    const reply = await this.call('withdraw', [token, this.wake]);
    if (reply === 1 || reply === 0) return reply === 1;
    throw this.unexpected('withdraw', reply);
  }

  async state(token: string): Promise<SemaphoreState> {
    const reply = await this.call('inspect', [token]);
    if (Array.isArray(reply) && reply.length === 5 && reply.every((n) => typeof n === 'number')) {
      const [limit, held, mine, waitMs, waiting] = reply as [number, number, number, number, number];
      return { limit, held, mine, waitMs, waiting };
    }
    throw this.unexpected('inspect', reply);
  }

  async inspect(token: string): Promise<InspectReply> {
    const { held, mine, waitMs, waiting } = await this.state(token);
    return { held: held > 0, mine: mine > 0, waitMs, exclusive: false, shared: held, waiting };
  }

  /** A permit comes back only from its holder or by expiry: there is no force release. */
  forceRelease(): Promise<boolean> {
    return Promise.reject(
      new LockError(`semaphore '${this.keys.name}' has no force release: a permit comes back from its holder or by expiry`, this.keys.name),
    );
  }

  async confirm(client: Redis, token: string, asking: boolean): Promise<boolean> {
    const reply = await scripts.confirm.run(client, [this.keys.state], [token], asking);
    if (reply === 1 || reply === 0) return reply === 1;
    throw this.unexpected('confirm', reply);
  }

  /** Runs one of the semaphore's scripts on its one key, with the lock kind's errors for what Redis refuses. */
  private call(script: keyof typeof scripts, args: (string | number)[]): Promise<unknown> {
    return runLockScript(scripts[script], `semaphore ${script}`, this.client, this.keys, this.stateOnly, args);
  }

  private unexpected(script: string, reply: unknown): LockError {
    return unexpectedReply(`semaphore ${script}`, this.keys, reply);
  }
}
