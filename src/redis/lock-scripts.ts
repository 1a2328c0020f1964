import type { Cluster, Redis } from 'ioredis';
import { LockError } from '../errors';
import { isTransient } from './deadline';
import type { LockKeys } from './keys';
import { LuaScript } from './lua-script';
import { luaScripts } from './scripts/lua.generated';

/** How long a name's fencing counter outlives its last hold (see README, "Fencing tokens"). */
export const FENCE_RETENTION_MS = 10 * 60_000;

/** 'w' takes the lock exclusively (exclusive and write locks), 'r' shares it with other readers. */
export type ScriptMode = 'w' | 'r';

export type AcquireReply =
  /** `leftMs`: what the hold has left by the server's clock (less than the hold when an earlier, unanswered attempt took it). */
  | { readonly acquired: true; readonly fence: number; readonly leftMs: number }
  /**
   * `queued`: this writer's mark now holds new readers back; withdraw it when
   * giving up. `behindWriter`: this reader is held back only by a waiting
   * writer's mark.
   */
  | { readonly acquired: false; readonly waitMs: number; readonly queued: boolean; readonly behindWriter: boolean };

/** 1 released, 0 the lock was free, -1 another owner holds it. */
export type ReleaseReply = 1 | 0 | -1;

export interface InspectReply {
  readonly held: boolean;
  readonly writer: boolean;
  readonly readers: number;
  readonly mine: boolean;
  readonly waitMs: number;
}

const scripts = {
  acquire: new LuaScript(luaScripts.acquire.lua, luaScripts.acquire.numberOfKeys),
  renew: new LuaScript(luaScripts.renew.lua, luaScripts.renew.numberOfKeys),
  release: new LuaScript(luaScripts.release.lua, luaScripts.release.numberOfKeys),
  forceRelease: new LuaScript(luaScripts.forceRelease.lua, luaScripts.forceRelease.numberOfKeys),
  inspect: new LuaScript(luaScripts.inspect.lua, luaScripts.inspect.numberOfKeys),
  withdraw: new LuaScript(luaScripts.withdraw.lua, luaScripts.withdraw.numberOfKeys),
};

/**
 * Where release scripts publish their wake-up, and the id it carries ('' for
 * none) so that the releasing process can skip a wake-up it already acted on.
 */
export interface WakeChannel {
  readonly channel: string;
  readonly releaseId: string;
}

/**
 * The lock's state changes, each one atomic Lua script, with their replies
 * checked: anything else (a foreign value at a lock's key) becomes a LockError
 * instead of being misread.
 */
export class LockScripts {
  constructor(private readonly client: Redis | Cluster) {}

  /** `waits`: the caller will wait if blocked (a writer then queues readers behind it). */
  async acquire(keys: LockKeys, token: string, mode: ScriptMode, holdMs: number, waits: boolean): Promise<AcquireReply> {
    const args = [token, mode, holdMs, FENCE_RETENTION_MS, waits ? '1' : '0'];
    const reply = await this.call('acquire', keys, [keys.state, keys.fence], args);
    if (Array.isArray(reply) && reply.length === 4 && typeof reply[1] === 'number' && typeof reply[2] === 'number') {
      if (reply[0] === 1) return { acquired: true, fence: reply[1], leftMs: reply[2] };
      if (reply[0] === 0) {
        return { acquired: false, waitMs: Math.max(1, reply[1]), queued: reply[2] === 1, behindWriter: reply[3] === 3 };
      }
    }
    throw unexpected(keys, 'acquire', reply);
  }

  /** Extends the hold to `holdMs` from now (0: only checks); ms left, or 0 when the hold is gone. */
  async renew(keys: LockKeys, token: string, mode: ScriptMode, holdMs: number): Promise<number> {
    const reply = await this.call('renew', keys, [keys.state, keys.fence], [token, mode, holdMs, FENCE_RETENTION_MS]);
    if (typeof reply === 'number' && reply >= 0) return reply;
    throw unexpected(keys, 'renew', reply);
  }

  async release(keys: LockKeys, token: string, mode: ScriptMode, wake: WakeChannel): Promise<ReleaseReply> {
    const reply = await this.call('release', keys, [keys.state], [token, mode, wake.channel, wake.releaseId]);
    if (reply === 1 || reply === 0 || reply === -1) return reply;
    throw unexpected(keys, 'release', reply);
  }

  /** Frees the lock from every holder; true when it was held. */
  async forceRelease(keys: LockKeys, wake: WakeChannel): Promise<boolean> {
    const reply = await this.call('forceRelease', keys, [keys.state], [wake.channel, wake.releaseId]);
    if (reply === 1 || reply === 0) return reply === 1;
    throw unexpected(keys, 'forceRelease', reply);
  }

  /** Removes a waiting writer's mark; true when there was one. */
  async withdraw(keys: LockKeys, token: string, wake: WakeChannel): Promise<boolean> {
    const reply = await this.call('withdraw', keys, [keys.state], [token, wake.channel, wake.releaseId]);
    if (reply === 1 || reply === 0) return reply === 1;
    throw unexpected(keys, 'withdraw', reply);
  }

  async inspect(keys: LockKeys, token: string): Promise<InspectReply> {
    const reply = await this.call('inspect', keys, [keys.state], [token]);
    if (Array.isArray(reply) && reply.length === 4 && reply.every((n) => typeof n === 'number')) {
      const [writer, readers, mine, waitMs] = reply as [number, number, number, number];
      return { held: writer === 1 || readers > 0, writer: writer === 1, readers, mine: mine === 1, waitMs };
    }
    throw unexpected(keys, 'inspect', reply);
  }

  private async call(
    script: keyof typeof scripts,
    keys: LockKeys,
    redisKeys: string[],
    args: (string | number)[],
  ): Promise<unknown> {
    try {
      return await scripts[script].run(this.client, redisKeys, args);
    } catch (error) {
      if (error instanceof Error && /WRONGTYPE|YADLSTATE/.test(error.message)) {
        throw new LockError(
          `the key ${keys.state} holds a value yadl did not write (${error.message}); refusing to touch it`,
          keys.name,
          { cause: error },
        );
      }
      // Transient trouble is the caller's to retry; any other reply is final, and yadl's to explain.
      if (isTransient(error)) throw error;
      throw new LockError(`Redis refused the ${script} script for ${keys.state}: ${describeError(error)}`, keys.name, {
        cause: error,
      });
    }
  }
}

function unexpected(keys: LockKeys, script: string, reply: unknown): LockError {
  return new LockError(`unexpected reply from the ${script} script for ${keys.state}: ${JSON.stringify(reply)}`, keys.name);
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
