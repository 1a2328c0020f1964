import type { Cluster, Redis } from 'ioredis';
import { LockError } from '../../errors';
import { isTransient } from '../deadline';
import type { AcquireReply, HoldKind, HoldTarget, InspectReply, ReleaseReply } from '../hold-kind';
import { lockKeys, type LockKeys } from '../keys';
import { LuaScript } from '../lua-script';
import { luaScripts } from '../scripts/lua.generated';

/** How long a name's fencing counter outlives its last hold (see README, "Fencing tokens"). */
export const FENCE_RETENTION_MS = 10 * 60_000;

/** The read/write lock in its two modes: 'write' takes it exclusively (plain and write locks), 'read' shares it. */
export type LockKindMode = 'write' | 'read';

const scripts = {
  acquire: new LuaScript(luaScripts.lock.acquire.lua, luaScripts.lock.acquire.numberOfKeys),
  renew: new LuaScript(luaScripts.lock.renew.lua, luaScripts.lock.renew.numberOfKeys),
  release: new LuaScript(luaScripts.lock.release.lua, luaScripts.lock.release.numberOfKeys),
  forceRelease: new LuaScript(luaScripts.lock.forceRelease.lua, luaScripts.lock.forceRelease.numberOfKeys),
  inspect: new LuaScript(luaScripts.lock.inspect.lua, luaScripts.lock.inspect.numberOfKeys),
  withdraw: new LuaScript(luaScripts.lock.withdraw.lua, luaScripts.lock.withdraw.numberOfKeys),
};

function kindFor(scriptMode: 'w' | 'r'): HoldKind {
  return {
    kind: 'lock',
    shared: scriptMode === 'r',
    target: (connection, prefix, name) =>
      new LockTarget(connection.client, lockKeys(prefix, name, connection.db, connection.keyPrefix), scriptMode),
  };
}

const kinds: Record<LockKindMode, HoldKind> = { write: kindFor('w'), read: kindFor('r') };

/** The read/write lock kind in `mode`. */
export function lockKind(mode: LockKindMode): HoldKind {
  return kinds[mode];
}

/** One lock name on one client: the scripts of src/redis/scripts/lock/. */
export class LockTarget implements HoldTarget {
  readonly name: string;
  readonly slotKey: string;
  readonly channel: string;

  constructor(
    private readonly client: Redis | Cluster,
    private readonly keys: LockKeys,
    /** The scripts' mode argument: 'w' exclusive, 'r' shared. */
    private readonly scriptMode: 'w' | 'r',
  ) {
    this.name = keys.name;
    this.slotKey = keys.state;
    this.channel = keys.channel;
  }

  async acquire(token: string, holdMs: number, waits: boolean): Promise<AcquireReply> {
    const { keys } = this;
    const args = [token, this.scriptMode, holdMs, FENCE_RETENTION_MS, waits ? '1' : '0'];
    const reply = await this.call('acquire', [keys.state, keys.fence], args);
    if (Array.isArray(reply) && reply.length === 4 && typeof reply[1] === 'number' && typeof reply[2] === 'number') {
      if (reply[0] === 1) return { acquired: true, fence: reply[1], leftMs: reply[2] };
      if (reply[0] === 0) {
        return { acquired: false, waitMs: Math.max(1, reply[1]), queued: reply[2] === 1, behindWriter: reply[3] === 3 };
      }
    }
    throw this.unexpected('acquire', reply);
  }

  async renew(token: string, holdMs: number): Promise<number> {
    const { keys } = this;
    const reply = await this.call('renew', [keys.state, keys.fence], [token, this.scriptMode, holdMs, FENCE_RETENTION_MS]);
    if (typeof reply === 'number' && reply >= 0) return reply;
    throw this.unexpected('renew', reply);
  }

  async release(token: string, releaseId: string): Promise<ReleaseReply> {
    const { keys } = this;
    const reply = await this.call('release', [keys.state], [token, this.scriptMode, keys.channel, releaseId]);
    if (reply === 1 || reply === 0 || reply === -1) return reply;
    throw this.unexpected('release', reply);
  }

  async withdraw(token: string): Promise<boolean> {
    if (this.scriptMode === 'r') return false; // only writers leave marks
    const { keys } = this;
    const reply = await this.call('withdraw', [keys.state], [token, keys.channel, '']);
    if (reply === 1 || reply === 0) return reply === 1;
    throw this.unexpected('withdraw', reply);
  }

  async inspect(token: string): Promise<InspectReply> {
    const reply = await this.call('inspect', [this.keys.state], [token]);
    if (Array.isArray(reply) && reply.length === 4 && reply.every((n) => typeof n === 'number')) {
      const [writer, readers, mine, waitMs] = reply as [number, number, number, number];
      return { held: writer === 1 || readers > 0, exclusive: writer === 1, shared: readers, mine: mine === 1, waitMs };
    }
    throw this.unexpected('inspect', reply);
  }

  async forceRelease(): Promise<boolean> {
    const { keys } = this;
    const reply = await this.call('forceRelease', [keys.state], [keys.channel, '']);
    if (reply === 1 || reply === 0) return reply === 1;
    throw this.unexpected('forceRelease', reply);
  }

  private async call(script: keyof typeof scripts, redisKeys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await scripts[script].run(this.client, redisKeys, args);
    } catch (error) {
      const { keys } = this;
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

  private unexpected(script: string, reply: unknown): LockError {
    return new LockError(`unexpected reply from the ${script} script for ${this.keys.state}: ${JSON.stringify(reply)}`, this.keys.name);
  }
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
