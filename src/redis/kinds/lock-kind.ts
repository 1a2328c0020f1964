import { hostname } from 'node:os';
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

/** How a lock is queued for, and who holds it. */
export interface LockLine {
  /** Join the fair line (FIFO across processes) when blocked. */
  readonly fair: boolean;
  /** Ms a hold granted to this waiter by another's release waits for its confirmation. */
  readonly handoffGrace: number;
  /** Kept beside the hold for operators (query, the CLI); never the token. */
  readonly label: string;
}

export const DEFAULT_HANDOFF_GRACE = 2_000;
/** Who holds, when nobody says: this host and process. */
export const DEFAULT_LABEL = `${hostname()}:${process.pid}`;
const UNFAIR: LockLine = { fair: false, handoffGrace: DEFAULT_HANDOFF_GRACE, label: DEFAULT_LABEL };

const scripts = {
  acquire: new LuaScript(luaScripts.lock.acquire.lua, luaScripts.lock.acquire.numberOfKeys),
  renew: new LuaScript(luaScripts.lock.renew.lua, luaScripts.lock.renew.numberOfKeys),
  release: new LuaScript(luaScripts.lock.release.lua, luaScripts.lock.release.numberOfKeys),
  forceRelease: new LuaScript(luaScripts.lock.forceRelease.lua, luaScripts.lock.forceRelease.numberOfKeys),
  inspect: new LuaScript(luaScripts.lock.inspect.lua, luaScripts.lock.inspect.numberOfKeys),
  withdraw: new LuaScript(luaScripts.lock.withdraw.lua, luaScripts.lock.withdraw.numberOfKeys),
  confirm: new LuaScript(luaScripts.lock.confirm.lua, luaScripts.lock.confirm.numberOfKeys),
};

function kindFor(scriptMode: 'w' | 'r', line: LockLine): HoldKind {
  return {
    kind: 'lock',
    shared: scriptMode === 'r',
    target: (connection, prefix, name) =>
      new LockTarget(connection.client, lockKeys(prefix, name, connection.db, connection.keyPrefix), scriptMode, line),
  };
}

const unfairKinds: Record<LockKindMode, HoldKind> = { write: kindFor('w', UNFAIR), read: kindFor('r', UNFAIR) };

/** The read/write lock kind in `mode`, waiting in the fair line or not. */
export function lockKind(mode: LockKindMode, line: LockLine = UNFAIR): HoldKind {
  if (!line.fair && line.label === DEFAULT_LABEL) return unfairKinds[mode];
  return kindFor(mode === 'read' ? 'r' : 'w', line);
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
    private readonly line: LockLine = UNFAIR,
  ) {
    this.name = keys.name;
    this.slotKey = keys.state;
    this.channel = keys.channel;
  }

  async acquire(token: string, holdMs: number, waits: boolean, companions: readonly string[] = []): Promise<AcquireReply> {
    const { keys, line } = this;
    const args = [
      token,
      this.scriptMode,
      holdMs,
      FENCE_RETENTION_MS,
      waits ? '1' : '0',
      line.fair ? '1' : '0',
      line.handoffGrace,
      keys.channel,
      line.label,
      ...companions,
    ];
    const reply = await this.call('acquire', [keys.state, keys.fence], args);
    if (Array.isArray(reply) && reply.length === 5 && reply.every((n) => typeof n === 'number')) {
      const [acquired, value, left, blocker, ticket] = reply as [number, number, number, number, number];
      if (acquired === 1) return { acquired: true, fence: value, leftMs: left };
      if (acquired === 0) {
        return { acquired: false, waitMs: Math.max(1, value), queued: left === 1, behindWriter: blocker === 3, ticket };
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
    const reply = await this.call('release', [keys.state, keys.fence], [token, this.scriptMode, keys.channel, releaseId, FENCE_RETENTION_MS]);
    if (reply === 1 || reply === 0 || reply === -1) return reply;
    throw this.unexpected('release', reply);
  }

  async withdraw(token: string): Promise<boolean> {
    const { keys } = this;
    const reply = await this.call('withdraw', [keys.state, keys.fence], [token, keys.channel, '', FENCE_RETENTION_MS]);
    if (reply === 1 || reply === 0) return reply === 1;
    throw this.unexpected('withdraw', reply);
  }

  async inspect(token: string): Promise<InspectReply> {
    const reply = await this.call('inspect', [this.keys.state], [token]);
    if (Array.isArray(reply) && reply.length === 5 && reply.every((n) => typeof n === 'number')) {
      const [writer, readers, mine, waitMs, waiting] = reply as [number, number, number, number, number];
      return { held: writer === 1 || readers > 0, exclusive: writer === 1, shared: readers, mine: mine === 1, waitMs, waiting };
    }
    throw this.unexpected('inspect', reply);
  }

  async forceRelease(): Promise<boolean> {
    const { keys } = this;
    const reply = await this.call('forceRelease', [keys.state, keys.fence], [keys.channel, '', FENCE_RETENTION_MS]);
    if (reply === 1 || reply === 0) return reply === 1;
    throw this.unexpected('forceRelease', reply);
  }

  async confirm(client: Redis, token: string, asking: boolean): Promise<boolean> {
    const reply = await scripts.confirm.run(client, [this.keys.state], [token, this.scriptMode], asking);
    if (reply === 1 || reply === 0) return reply === 1;
    throw this.unexpected('confirm', reply);
  }

  private call(script: keyof typeof scripts, redisKeys: string[], args: (string | number)[]): Promise<unknown> {
    return runLockScript(scripts[script], script, this.client, this.keys, redisKeys, args);
  }

  private unexpected(script: string, reply: unknown): LockError {
    return unexpectedReply(script, this.keys, reply);
  }
}

/**
 * Runs one of the lock's scripts for the lock at `keys`. Transient trouble is
 * the caller's to retry; any other failure is a LockError that says why.
 */
export async function runLockScript(
  script: LuaScript,
  scriptName: string,
  client: Redis | Cluster,
  keys: LockKeys,
  redisKeys: string[],
  args: (string | number)[],
): Promise<unknown> {
  try {
    return await script.run(client, redisKeys, args);
  } catch (error) {
    if (error instanceof Error && /WRONGTYPE|YADLSTATE/.test(error.message)) {
      throw new LockError(`the key ${keys.state} holds a value yadl did not write (${error.message}); refusing to touch it`, keys.name, {
        cause: error,
      });
    }
    // Transient trouble is the caller's to retry; any other reply is final, and yadl's to explain.
    if (isTransient(error)) throw error;
    throw new LockError(`Redis refused the ${scriptName} script for ${keys.state}: ${describeError(error)}`, keys.name, {
      cause: error,
    });
  }
}

/** A reply a lock script never gives: refused, never misread. */
export function unexpectedReply(scriptName: string, keys: LockKeys, reply: unknown): LockError {
  return new LockError(`unexpected reply from the ${scriptName} script for ${keys.state}: ${JSON.stringify(reply)}`, keys.name);
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
