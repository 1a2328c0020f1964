import type { Connection } from '../redis/connection';
import type { HoldRenewal, HoldTarget } from '../redis/hold-kind';
import { timerDelay } from './timers';

/**
 * Holds in one renew-many script at most. Redis runs nothing else while a
 * script runs, and a renewal costs it about 5 to 18 µs inside the script
 * (measured on 2 loaded cores): 1000 holds pause it for 5 to 18 ms, where
 * 10 000 in one script paused it for 50 to 180 ms every tick. So 10 000
 * holds due together renew in 10 scripts, sent back to back (one round trip
 * of pipelined scripts), against 10 000 scripts before (see README,
 * "Renewals at scale").
 */
export const MAX_HOLDS_PER_SCRIPT = 1_000;

/** When renewals fall due, shared by the holds of one connection. */
export interface RenewalSchedule {
  /**
   * Calls `due` once, at `latest` or up to `window` ms before it, in the
   * same turn as every other hold due then. Returns the cancel.
   */
  schedule(latest: number, window: number, due: () => void): () => void;
}

interface Tick {
  readonly at: number;
  readonly dues: Set<() => void>;
  timer: NodeJS.Timeout | undefined;
}

interface Pending extends HoldRenewal {
  readonly resolve: (left: number) => void;
  readonly reject: (error: unknown) => void;
}

/**
 * The renewals of one connection's holds, batched: holds whose renewals
 * fall due close together renew in the same turn (a tick), and the renewals
 * sent in one turn go as one script per renewal group (the kind's, and on a
 * Cluster the slot's). A renewal may come early, up to the window its hold
 * allows, never late: a hold joins the earliest tick already planned within
 * its window, else plans one at its own latest time. Holds that renewed
 * together fall due together again, so 10 000 holds of one lease renew in
 * one script per lease/3 however they were acquired.
 *
 * Each hold still gets its own answer (ms left, gone, or its own error), and
 * its own deadline (redisTimeout) and retries stay its HoldKeeper's.
 */
export class RenewalBatcher implements RenewalSchedule {
  /** Planned ticks, earliest first. */
  private readonly ticks: Tick[] = [];
  private pending = new Map<string, Pending[]>();
  private flushQueued = false;

  schedule(latest: number, window: number, due: () => void): () => void {
    const earliest = latest - Math.max(0, window);
    let tick = this.ticks.find((t) => t.at >= earliest && t.at <= latest);
    if (tick === undefined) tick = this.plan(latest);
    tick.dues.add(due);
    const planned = tick;
    return () => {
      planned.dues.delete(due);
      if (planned.dues.size === 0 && planned.timer !== undefined) this.drop(planned);
    };
  }

  /**
   * One hold's renewal (holdMs > 0) or check (0), sent with every other one
   * asked for in this turn: ms left, 0 when gone.
   */
  renew(target: HoldTarget, token: string, holdMs: number): Promise<number> {
    return new Promise<number>((resolve, reject) => {
      const group = target.renewGroup ?? '';
      let list = this.pending.get(group);
      if (list === undefined) {
        list = [];
        this.pending.set(group, list);
      }
      list.push({ target, token, holdMs, resolve, reject });
      if (!this.flushQueued) {
        this.flushQueued = true;
        queueMicrotask(this.flush);
      }
    });
  }

  private plan(at: number): Tick {
    const tick: Tick = { at, dues: new Set(), timer: undefined };
    tick.timer = setTimeout(() => this.fire(tick), timerDelay(at - performance.now()));
    const index = this.ticks.findIndex((t) => t.at > at);
    this.ticks.splice(index === -1 ? this.ticks.length : index, 0, tick);
    return tick;
  }

  private drop(tick: Tick): void {
    clearTimeout(tick.timer);
    tick.timer = undefined;
    const index = this.ticks.indexOf(tick);
    if (index !== -1) this.ticks.splice(index, 1);
  }

  private fire(tick: Tick): void {
    this.drop(tick);
    for (const due of tick.dues) due();
  }

  private readonly flush = (): void => {
    this.flushQueued = false;
    const groups = this.pending;
    this.pending = new Map();
    for (const list of groups.values()) {
      for (let i = 0; i < list.length; i += MAX_HOLDS_PER_SCRIPT) send(list.slice(i, i + MAX_HOLDS_PER_SCRIPT));
    }
  };
}

function send(holds: Pending[]): void {
  const first = holds[0];
  if (first === undefined) return;
  if (holds.length === 1 || first.target.renewMany === undefined) {
    for (const hold of holds) hold.target.renew(hold.token, hold.holdMs).then(hold.resolve, hold.reject);
    return;
  }
  first.target.renewMany(holds).then(
    (results) => {
      holds.forEach((hold, i) => {
        const result = results[i];
        if (typeof result === 'number') hold.resolve(result);
        else hold.reject(result ?? new Error('renewMany answered fewer holds than it was given'));
      });
    },
    (error: unknown) => {
      if (splitSlot(error)) {
        // A slot under migration: some holds' keys moved, others not yet, and Redis refuses a script
        // over both. Each hold's own keys move together, so one by one they renew (ASK) meanwhile.
        for (const hold of holds) hold.target.renew(hold.token, hold.holdMs).then(hold.resolve, hold.reject);
        return;
      }
      for (const hold of holds) hold.reject(error);
    },
  );
}

/** TRYAGAIN (keys of one script on two nodes mid-migration), or ioredis giving up following it. */
function splitSlot(error: unknown): boolean {
  return error instanceof Error && /^(TRYAGAIN|Too many Cluster redirections)/.test(error.message);
}

const batchers = new WeakMap<Connection, RenewalBatcher>();

/** The renewal batcher of `connection`'s holds of kinds that renew many at once; undefined for the others. */
export function renewalBatcher(connection: Connection, target: HoldTarget): RenewalBatcher | undefined {
  if (target.renewMany === undefined || target.renewGroup === undefined) return undefined;
  let batcher = batchers.get(connection);
  if (batcher === undefined) {
    batcher = new RenewalBatcher();
    batchers.set(connection, batcher);
  }
  return batcher;
}
