import calculateSlot from 'cluster-key-slot';
import type { Cluster, Redis } from 'ioredis';
import { channelSetName, channelSetOf } from '../channel-set';
import type { Connection } from '../connection';
import type { AcquireReply, HoldKind, HoldTarget, InspectReply, ReleaseReply } from '../hold-kind';
import { lockKeys, type LockKeys } from '../keys';
import { LuaScript } from '../lua-script';
import { luaScripts } from '../scripts/lua.generated';
import type { NotificationSource } from '../subscriber';
import { FENCE_RETENTION_MS, LockTarget, runLockScript, unexpectedReply, wakeChannel, type LockKindMode, type LockLine } from './lock-kind';

/** The scripts that take several names in one step, by number of keys (2 per name). */
const multiScripts = {
  acquireAll: luaScripts.lock.acquireAll.lua,
  renewAll: luaScripts.lock.renewAll.lua,
  releaseAll: luaScripts.lock.releaseAll.lua,
};
const loaded = new Map<string, LuaScript>();

function script(name: keyof typeof multiScripts, keyCount: number): LuaScript {
  const id = `${name}:${keyCount}`;
  let found = loaded.get(id);
  if (found === undefined) {
    found = new LuaScript(multiScripts[name], keyCount);
    loaded.set(id, found);
  }
  return found;
}

/**
 * The order every multi-lock takes names in, the same in every process: by
 * Cluster slot, then by the full key of each name's state hash (so names of
 * one slot are next to each other, and taken in one script); on one server,
 * by full key alone. Returns the names in runs that one script can take:
 * one run on a single server, one per slot on a Cluster.
 */
export function lockRuns(connection: Pick<Connection, 'client' | 'db' | 'keyPrefix'>, prefix: string, names: readonly string[]): string[][] {
  const cluster = (connection.client as { isCluster?: boolean }).isCluster === true;
  const keyed = names.map((name) => {
    const state = lockKeys(prefix, name, connection.db, connection.keyPrefix).state;
    return { name, state, slot: cluster ? calculateSlot(connection.keyPrefix + state) : 0 };
  });
  keyed.sort((a, b) => a.slot - b.slot || (a.state < b.state ? -1 : a.state > b.state ? 1 : 0));
  const runs: string[][] = [];
  let slot = -1;
  for (const { name, slot: its } of keyed) {
    if (its !== slot || runs.length === 0) runs.push([]);
    slot = its;
    runs[runs.length - 1]?.push(name);
  }
  return runs;
}

/**
 * The lock kind over a run of names (all in one slot), held all at once by
 * one owner token: each name keeps its own ordinary lock fields, so single
 * locks of these names see it as one more holder. Made for one acquisition:
 * `target` keeps what it made, for the fences and the name lost.
 */
export class MultiLockKind implements HoldKind {
  readonly kind = 'lock';
  readonly shared: boolean;
  made: MultiLockTarget | undefined;

  constructor(
    private readonly names: readonly string[],
    private readonly mode: LockKindMode,
    private readonly line: LockLine,
  ) {
    this.shared = mode === 'read';
  }

  target(connection: Connection, prefix: string): HoldTarget {
    const keys = this.names.map((name) => lockKeys(prefix, name, connection.db, connection.keyPrefix));
    this.made = new MultiLockTarget(connection.client, keys, this.mode === 'read' ? 'r' : 'w', this.line);
    return this.made;
  }
}

/** Several lock names on one client, all in one slot: acquire-all, renew-all and release-all, and each name's own scripts. */
export class MultiLockTarget implements HoldTarget {
  readonly name: string;
  readonly slotKey: string;
  readonly channel: string;
  /** Each name's fence, in the order of `keys`, once acquired. */
  fences: readonly number[] = [];
  /** The name a renewal or check found no longer held, if one did. */
  lost: string | undefined;
  private readonly single: readonly LockTarget[];
  private readonly redisKeys: string[];

  constructor(
    private readonly client: Redis | Cluster,
    readonly keys: readonly LockKeys[],
    private readonly scriptMode: 'w' | 'r',
    private readonly line: LockLine,
  ) {
    const first = keys[0];
    if (first === undefined) throw new RangeError('a multi-lock takes at least one name');
    this.name = first.name;
    this.slotKey = first.state;
    this.channel = channelSetName(keys.map((k) => k.channel));
    this.single = keys.map((k) => new LockTarget(client, k, scriptMode, line));
    this.redisKeys = keys.flatMap((k) => [k.state, k.fence]);
  }

  notifications(subscriber: NotificationSource): NotificationSource {
    return channelSetOf(subscriber);
  }

  async acquire(token: string, holdMs: number, waits: boolean): Promise<AcquireReply> {
    const args = [token, this.scriptMode, holdMs, FENCE_RETENTION_MS, waits ? '1' : '0', this.line.label];
    const reply = await this.call('acquireAll', args);
    if (Array.isArray(reply) && reply.every((n) => typeof n === 'number')) {
      const [acquired, value, left, blocker] = reply;
      if (acquired === 1 && value !== undefined && left !== undefined && reply.length === 5 + this.keys.length) {
        this.fences = reply.slice(5);
        return { acquired: true, fence: value, leftMs: left };
      }
      if (acquired === 0 && value !== undefined && reply.length === 5) {
        return { acquired: false, waitMs: Math.max(1, value), queued: left === 1, behindWriter: blocker === 3, ticket: 0 };
      }
    }
    throw this.unexpected('acquire-all', reply);
  }

  async renew(token: string, holdMs: number): Promise<number> {
    const reply = await this.call('renewAll', [token, this.scriptMode, holdMs, FENCE_RETENTION_MS]);
    if (Array.isArray(reply) && reply.length === 2) {
      const [left, lost] = reply as [unknown, unknown];
      if (typeof left === 'number' && left > 0) return left;
      const name = typeof lost === 'number' ? this.keys[lost - 1]?.name : undefined;
      if (left === 0 && name !== undefined) {
        this.lost ??= name;
        return 0;
      }
    }
    throw this.unexpected('renew-all', reply);
  }

  async release(token: string, releaseId: string): Promise<ReleaseReply> {
    const args = [token, this.scriptMode, releaseId, FENCE_RETENTION_MS, ...this.keys.map((k) => wakeChannel(this.client, k.channel))];
    const reply = await this.call('releaseAll', args);
    if (reply === 1 || reply === 0 || reply === -1) return reply;
    throw this.unexpected('release-all', reply);
  }

  /** Rare (a writer that gives up), so one command per name. */
  async withdraw(token: string): Promise<boolean> {
    const taken = await Promise.all(this.single.map((target) => target.withdraw(token)));
    return taken.some(Boolean);
  }

  /** Held when any name is; mine when this token holds every one. */
  async inspect(token: string): Promise<InspectReply> {
    const each = await Promise.all(this.single.map((target) => target.inspect(token)));
    return {
      held: each.some((r) => r.held),
      mine: each.every((r) => r.mine),
      waitMs: Math.max(...each.map((r) => r.waitMs)),
      exclusive: each.some((r) => r.exclusive),
      shared: Math.max(...each.map((r) => r.shared)),
      waiting: Math.max(...each.map((r) => r.waiting)),
    };
  }

  async forceRelease(): Promise<boolean> {
    const released = await Promise.all(this.single.map((target) => target.forceRelease()));
    return released.some(Boolean);
  }

  /** For `replicas`: every name's hold confirmed on `client`, one after another (WAIT then counts them all). */
  async confirm(client: Redis, token: string, asking: boolean): Promise<boolean> {
    for (const target of this.single) {
      if (!(await target.confirm(client, token, asking))) return false;
    }
    return true;
  }

  private call(name: keyof typeof multiScripts, args: (string | number)[]): Promise<unknown> {
    const first = this.keys[0] as LockKeys;
    return runLockScript(script(name, this.redisKeys.length), name, this.client, first, this.redisKeys, args);
  }

  private unexpected(scriptName: string, reply: unknown): Error {
    return unexpectedReply(scriptName, this.keys[0] as LockKeys, reply);
  }
}
