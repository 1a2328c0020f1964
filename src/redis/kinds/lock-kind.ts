import { hostname } from 'node:os';
import type { Cluster, Redis } from 'ioredis';
import calculateSlot from 'cluster-key-slot';
import { LockError } from '../../errors';
import { isTransient } from '../deadline';
import type { AcquireReply, HoldKind, HoldRenewal, HoldTarget, InspectReply, ReleaseReply } from '../hold-kind';
import type { Connection } from '../connection';
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
  renewMany: new LuaScript(luaScripts.lock.renewMany.lua, luaScripts.lock.renewMany.numberOfKeys),
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

/** Targets cached per connection and kind, at most this many (then the cache starts over). */
const MAX_CACHED_TARGETS = 4_096;

/**
 * The default kinds (every lock$ and RedisLock without `fair` or `label`)
 * reuse one immutable target per name and connection: its keys, channel and
 * KEYS arrays are made once, not per acquisition (10 000 waiters on a few
 * names share a few targets).
 */
function cachedKindFor(scriptMode: 'w' | 'r'): HoldKind {
  const uncached = kindFor(scriptMode, UNFAIR);
  /** connection -> prefix -> name -> target; a nested map needs no key string per lookup. */
  const byConnection = new WeakMap<Connection, { size: number; byPrefix: Map<string, Map<string, HoldTarget>> }>();
  return {
    ...uncached,
    target: (connection, prefix, name) => {
      let cache = byConnection.get(connection);
      if (cache === undefined || cache.size >= MAX_CACHED_TARGETS) {
        cache = { size: 0, byPrefix: new Map() };
        byConnection.set(connection, cache);
      }
      let byName = cache.byPrefix.get(prefix);
      if (byName === undefined) {
        byName = new Map();
        cache.byPrefix.set(prefix, byName);
      }
      let target = byName.get(name);
      if (target === undefined) {
        target = uncached.target(connection, prefix, name);
        byName.set(name, target);
        cache.size += 1;
      }
      return target;
    },
  };
}

const unfairKinds: Record<LockKindMode, HoldKind> = { write: cachedKindFor('w'), read: cachedKindFor('r') };

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
    protected readonly client: Redis | Cluster,
    protected readonly keys: LockKeys,
    /** The scripts' mode argument: 'w' exclusive, 'r' shared. */
    private readonly scriptMode: 'w' | 'r',
    private readonly line: LockLine = UNFAIR,
  ) {
    this.name = keys.name;
    this.slotKey = keys.state;
    this.channel = keys.channel;
    this.wake = wakeChannel(client, keys.channel);
    this.stateAndFence = [keys.state, keys.fence];
    this.stateOnly = [keys.state];
  }

  /**
   * What the scripts publish wake-ups on: the keyspace channel, or on a
   * Cluster 'shard:<channel>', which they send with SPUBLISH (Redis >= 7) to
   * the shard channel of that name, in the lock's slot (includes/wake.lua).
   */
  protected readonly wake: string;
  private group: string | undefined;

  /** The scripts' KEYS, made once per target (targets are cached, see lockKind). */
  private readonly stateAndFence: readonly string[];
  private readonly stateOnly: readonly string[];

  /** Not async (nor release): a promise and a frame less per command on the hot path. */
  acquire(token: string, holdMs: number, waits: boolean, companions: readonly string[] = []): Promise<AcquireReply> {
    const { line } = this;
    const args = [token, this.scriptMode, holdMs, FENCE_RETENTION_MS, waits ? '1' : '0', line.fair ? '1' : '0', line.handoffGrace, this.wake, line.label];
    for (const companion of companions) args.push(companion);
    return this.call('acquire', args).then((reply) => {
      if (Array.isArray(reply) && reply.length === 5 && reply.every((n) => typeof n === 'number')) {
        const [acquired, value, left, blocker, ticket] = reply as [number, number, number, number, number];
        if (acquired === 1) return { acquired: true, fence: value, leftMs: left };
        if (acquired === 0) {
          return { acquired: false, waitMs: Math.max(1, value), queued: left === 1, behindWriter: blocker === 3, ticket };
        }
      }
      throw this.unexpected('acquire', reply);
    });
  }

  async renew(token: string, holdMs: number): Promise<number> {
    const reply = await this.call('renew', [token, this.scriptMode, holdMs, FENCE_RETENTION_MS]);
    if (typeof reply === 'number' && reply >= 0) return reply;
    throw this.unexpected('renew', reply);
  }

  /**
   * Renewals of every lock on this client batch together; on a Cluster, of
   * the locks in one slot (a script's keys must share one): the slot of the
   * key as sent, with the client's keyPrefix (the channel's key part).
   */
  get renewGroup(): string {
    this.group ??= isCluster(this.client) ? `lock:${calculateSlot(this.channel.replace(KEYSPACE_CHANNEL, ''))}` : 'lock';
    return this.group;
  }

  async renewMany(holds: readonly HoldRenewal[]): Promise<(number | Error)[]> {
    const keys: string[] = [];
    const args: (string | number)[] = [FENCE_RETENTION_MS];
    for (const { target, token, holdMs } of holds) {
      if (!(target instanceof LockTarget)) throw new TypeError(`renewMany of a lock got a hold of another kind: ${target.name}`);
      keys.push(target.keys.state, target.keys.fence);
      args.push(token, target.scriptMode, holdMs);
    }
    let reply: unknown;
    try {
      reply = await scripts.renewMany.runBatch(this.client, keys, args);
    } catch (error) {
      throw this.refused('renewMany', error);
    }
    if (!Array.isArray(reply) || reply.length !== holds.length) throw this.unexpected('renewMany', reply);
    return holds.map(({ target }, i) => {
      const left: unknown = reply[i];
      if (typeof left === 'number' && left >= 0) return left;
      const own = target as LockTarget;
      if (typeof left === 'string') {
        // What the script's pcall caught, as ioredis would have surfaced it from renew-2.lua.
        const refusal = own.refused('renew', Object.assign(new Error(left), { name: 'ReplyError' }));
        return refusal instanceof Error ? refusal : own.unexpected('renew', left);
      }
      return own.unexpected('renew', left);
    });
  }

  release(token: string, releaseId: string): Promise<ReleaseReply> {
    return this.call('release', [token, this.scriptMode, this.wake, releaseId, FENCE_RETENTION_MS]).then((reply) => {
      if (reply === 1 || reply === 0 || reply === -1) return reply;
      throw this.unexpected('release', reply);
    });
  }

  async withdraw(token: string): Promise<boolean> {
    const reply = await this.call('withdraw', [token, this.wake, '', FENCE_RETENTION_MS]);
    if (reply === 1 || reply === 0) return reply === 1;
    throw this.unexpected('withdraw', reply);
  }

  async inspect(token: string): Promise<InspectReply> {
    const reply = await this.call('inspect', [token]);
    if (Array.isArray(reply) && reply.length === 5 && reply.every((n) => typeof n === 'number')) {
      const [writer, readers, mine, waitMs, waiting] = reply as [number, number, number, number, number];
      return { held: writer === 1 || readers > 0, exclusive: writer === 1, shared: readers, mine: mine === 1, waitMs, waiting };
    }
    throw this.unexpected('inspect', reply);
  }

  async forceRelease(): Promise<boolean> {
    const reply = await this.call('forceRelease', [this.wake, '', FENCE_RETENTION_MS]);
    if (reply === 1 || reply === 0) return reply === 1;
    throw this.unexpected('forceRelease', reply);
  }

  async confirm(client: Redis, token: string, asking: boolean): Promise<boolean> {
    const reply = await scripts.confirm.run(client, [this.keys.state], [token, this.scriptMode], asking);
    if (reply === 1 || reply === 0) return reply === 1;
    throw this.unexpected('confirm', reply);
  }

  /** Runs `script` on this lock's keys (the state, and the fence for the 2-key scripts). */
  private call(script: Exclude<keyof typeof scripts, 'confirm' | 'renewMany'>, args: (string | number)[]): Promise<unknown> {
    const run = scripts[script];
    return this.runScript(script, run, run.numberOfKeys === 2 ? this.stateAndFence : this.stateOnly, args);
  }

  /** Runs `lua` (one of this kind's scripts, or a kind's built on it) with yadl's errors for what Redis refuses. */
  protected runScript(what: string, lua: LuaScript, redisKeys: readonly string[], args: (string | number)[]): Promise<unknown> {
    return runLockScript(lua, what, this.client, this.keys, redisKeys, args);
  }

  private refused(script: string, error: unknown): unknown {
    return lockScriptError(script, this.keys, error);
  }

  protected unexpected(script: string, reply: unknown): LockError {
    return unexpectedReply(script, this.keys, reply);
  }
}

/**
 * Runs one of the lock's scripts for the lock at `keys`. Transient trouble is
 * the caller's to retry; any other failure is a LockError that says why.
 */
export function runLockScript(
  script: LuaScript,
  scriptName: string,
  client: Redis | Cluster,
  keys: LockKeys,
  redisKeys: readonly string[],
  args: (string | number)[],
): Promise<unknown> {
  return script.run(client, redisKeys, args).catch((error: unknown) => {
    throw lockScriptError(scriptName, keys, error);
  });
}

/** Transient trouble as it came (the caller's to retry); any other refusal as a LockError that explains it. */
function lockScriptError(scriptName: string, keys: LockKeys, error: unknown): unknown {
  if (error instanceof Error && /WRONGTYPE|YADLSTATE/.test(error.message)) {
    return new LockError(`the key ${keys.state} holds a value yadl did not write (${error.message}); refusing to touch it`, keys.name, {
      cause: error,
    });
  }
  if (isTransient(error)) return error;
  return new LockError(`Redis refused the ${scriptName} script for ${keys.state}: ${describeError(error)}`, keys.name, {
    cause: error,
  });
}

/** A reply a lock script never gives: refused, never misread. */
export function unexpectedReply(scriptName: string, keys: LockKeys, reply: unknown): LockError {
  return new LockError(`unexpected reply from the ${scriptName} script for ${keys.state}: ${JSON.stringify(reply)}`, keys.name);
}

const KEYSPACE_CHANNEL = /^__keyspace@\d+__:/;

/**
 * What a kind's scripts publish wake-ups on (includes/wake.lua): the
 * keyspace channel, or on a Cluster 'shard:<channel>', sent with SPUBLISH
 * (Redis >= 7) to the shard channel of that name, in the hold's own slot.
 */
export function wakeChannel(client: Redis | Cluster, channel: string): string {
  return isCluster(client) ? `shard:${channel}` : channel;
}

function isCluster(client: Redis | Cluster): client is Cluster {
  return (client as { isCluster?: boolean }).isCluster === true;
}

function describeError(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
