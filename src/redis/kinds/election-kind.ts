import type { Cluster, Redis } from 'ioredis';
import type { AcquireReply, HoldKind, InspectReply, ReleaseReply } from '../hold-kind';
import { lockKeys, type LockKeys } from '../keys';
import { LuaScript } from '../lua-script';
import { luaScripts } from '../scripts/lua.generated';
import { FENCE_RETENTION_MS, LockTarget } from './lock-kind';

const scripts = {
  campaign: new LuaScript(luaScripts.election.campaign.lua, luaScripts.election.campaign.numberOfKeys),
  resign: new LuaScript(luaScripts.election.resign.lua, luaScripts.election.resign.numberOfKeys),
  proclaim: new LuaScript(luaScripts.election.proclaim.lua, luaScripts.election.proclaim.numberOfKeys),
  read: new LuaScript(luaScripts.election.read.lua, luaScripts.election.read.numberOfKeys),
};

/**
 * One candidacy: the same for each of its terms. `value` may change (a
 * proclaim), and the next term starts with the latest.
 */
export interface Candidate {
  /** Random, not an owner token: it is stored in Redis (the resign record). */
  readonly id: string;
  value: string;
  /** Ms the other candidates have to start the next term after this one resigns. */
  readonly grace: number;
}

/** Who leads, as one read saw it. */
export type LeaderReading =
  | { readonly held: true; readonly fence: number; readonly rev: number; readonly leftMs: number; readonly nowUs: number; readonly value: string; readonly mine: boolean }
  | { readonly held: false; readonly nowUs: number };

/** Nobody's candidacy: for reads and for observers. */
const OBSERVER: Candidate = { id: '', value: '', grace: 0 };

/**
 * The election kind: a term is an exclusive hold of the election's own keys
 * (`[prefix:]election:{name}`, never a lock's), with the leader's value
 * beside it. Renewals and the replicas' confirmation are the lock's own
 * scripts in 'w' mode (the hold's fields are the lock writer's); taking,
 * resigning, proclaiming and reading are src/redis/scripts/election/.
 */
export function electionKind(candidate: Candidate = OBSERVER): HoldKind {
  return {
    kind: 'election',
    shared: false,
    target: (connection, prefix, name) => electionTarget(connection.client, connection.db, connection.keyPrefix, prefix, name, candidate),
  };
}

export function electionTarget(
  client: Redis | Cluster,
  db: number,
  keyPrefix: string,
  prefix: string,
  name: string,
  candidate: Candidate = OBSERVER,
): ElectionTarget {
  return new ElectionTarget(client, lockKeys(prefix, name, db, keyPrefix, 'election'), candidate);
}

/** One election on one client. */
export class ElectionTarget extends LockTarget {
  constructor(
    client: Redis | Cluster,
    keys: LockKeys,
    private readonly candidate: Candidate,
  ) {
    super(client, keys, 'w');
  }

  override async acquire(token: string, holdMs: number): Promise<AcquireReply> {
    const { keys, candidate } = this;
    const args = [token, holdMs, FENCE_RETENTION_MS, candidate.id, candidate.value, this.wake];
    const reply = await this.runScript('campaign', scripts.campaign, [keys.state, keys.fence], args);
    if (Array.isArray(reply) && reply.length === 5 && reply.every((n) => typeof n === 'number')) {
      const [acquired, value, left, blocker] = reply as [number, number, number, number, number];
      if (acquired === 1) return { acquired: true, fence: value, leftMs: left };
      if (acquired === 0 && blocker > 0) return { acquired: false, waitMs: Math.max(1, value), queued: false, behindWriter: false, ticket: 0 };
    }
    throw this.unexpected('campaign', reply);
  }

  override async release(token: string, releaseId: string): Promise<ReleaseReply> {
    const reply = await this.resign(token, releaseId, this.candidate.grace);
    if (reply === 1 || reply === 0 || reply === -1) return reply;
    throw this.unexpected('resign', reply);
  }

  /** Candidates leave nothing behind while they wait. */
  override withdraw(): Promise<boolean> {
    return Promise.resolve(false);
  }

  override async inspect(token: string): Promise<InspectReply> {
    const reading = await this.read(token);
    const held = reading.held;
    return { held, mine: held && reading.mine, waitMs: held ? reading.leftMs : 0, exclusive: held, shared: 0, waiting: 0 };
  }

  override async forceRelease(): Promise<boolean> {
    return (await this.resign('', '', 0)) === 1;
  }

  /** Changes the value of `token`'s term; false when its term is over. */
  async proclaim(token: string, value: string): Promise<boolean> {
    const { keys } = this;
    const reply = await this.runScript('proclaim', scripts.proclaim, [keys.state], [token, value, this.wake]);
    if (reply === 1 || reply === 0) return reply === 1;
    throw this.unexpected('proclaim', reply);
  }

  /** Who leads now, by the server's clock. */
  async read(token = ''): Promise<LeaderReading> {
    const reply = await this.runScript('read', scripts.read, [this.keys.state], [token]);
    if (Array.isArray(reply) && reply.length === 7) {
      const [held, fence, rev, leftMs, nowUs, value, mine] = reply as unknown[];
      if (typeof nowUs === 'number' && typeof value === 'string') {
        if (held === 0) return { held: false, nowUs };
        if (held === 1 && typeof fence === 'number' && typeof rev === 'number' && typeof leftMs === 'number') {
          return { held: true, fence, rev, leftMs, nowUs, value, mine: mine === 1 };
        }
      }
    }
    throw this.unexpected('read', reply);
  }

  private resign(token: string, releaseId: string, grace: number): Promise<unknown> {
    const { keys } = this;
    return this.runScript('resign', scripts.resign, [keys.state, keys.fence], [token, this.wake, releaseId, this.candidate.id, grace]);
  }
}
