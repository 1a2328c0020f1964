/**
 * Helpers of fair.model.spec.ts: the server's own record of the fair line
 * (MONITOR, replayed: every ticket issued, every take and grant, checked
 * against the line at that moment), a pool of worker processes that can be
 * killed and replaced, and the world the model's commands act on (every
 * waiter's life as its worker reported it on CLOCK_MONOTONIC), with the
 * checks made after a run: no two holders at once (or a writer with
 * readers), and no waiter kept waiting longer than the dead and departed
 * ahead of it explain.
 */
import { Redis } from 'ioredis';
import { clock, startFairWorker, type FairWorker, type LockOptionsOf, type WaiterEvent } from './fair-line';

// ------------------------------------------------------------ the server's record

interface TicketState {
  readonly seq: number;
  readonly expiry: number;
}

/** A ticket's expiry this close to a script's clock may or may not have counted: not held against the script. */
const CLOCK_TOLERANCE_MS = 5;

interface ScriptRun {
  readonly order: number;
  readonly source: string;
  /** ARGV[1] of a lock script (the attempting, releasing or withdrawing token). */
  readonly token: string | undefined;
  readonly acquire: boolean;
  nowMs: number | undefined;
  key: string | undefined;
  /** The line of `key` as it stood when the script first touched it. */
  before: Map<string, TicketState> | undefined;
  readonly takes: string[];
  readonly issued: Map<string, number>;
  readonly removed: string[];
}

export interface FirstAttempt {
  readonly source: string;
  readonly key: string;
  readonly order: number;
  /** The seq of the ticket it took, if it took one. */
  readonly seq: number | undefined;
  readonly took: boolean;
}

/**
 * MONITOR on its own connection, replayed into each lock's line: which
 * tickets are live when a script runs (by their expiry, on the server's
 * clock as the script's TIME read it), which tokens it issues tickets to,
 * and which it lets hold (a take: a writer's w with a new fence, or a
 * reader's r: with a new fence; grants included). Every take must leave no
 * live ticket ahead of its own behind (readers granted together are taken
 * in the same script); a script may remove only its own token's ticket or
 * expired ones.
 */
export class ServerLog {
  readonly violations: string[] = [];
  /** Tickets issued, in the order Redis issued them: [order, token, seq, key]. */
  readonly issues: Array<{ readonly order: number; readonly token: string; readonly seq: number; readonly key: string }> = [];
  readonly firstAttempts = new Map<string, FirstAttempt>();
  /** Tokens that held a grant (g:) at some point. */
  readonly granted = new Set<string>();
  private readonly lines = new Map<string, Map<string, TicketState>>();
  private readonly fences = new Map<string, string>();
  private readonly names = new Map<string, string>();
  private current: ScriptRun | undefined;
  private order = 0;
  private connection: Redis | undefined;

  private constructor(private readonly admin: Redis) {}

  static async start(url: string, admin: Redis): Promise<ServerLog> {
    const log = new ServerLog(admin);
    await log.refreshNames();
    const connection = await new Redis(url, { lazyConnect: true }).monitor();
    connection.on('error', () => undefined);
    connection.on('monitor', (time: string, args: string[], source: string) => log.line(time, args, source));
    log.connection = connection;
    return log;
  }

  /** A position in the record: what came after it is newer. */
  get position(): number {
    return this.order;
  }

  /** The connection name of a client address, as its CLIENT SETNAME (or CLIENT LIST) told. */
  nameOf(source: string): string | undefined {
    return this.names.get(source);
  }

  async refreshNames(): Promise<void> {
    const list = (await this.admin.call('CLIENT', 'LIST')) as string;
    for (const entry of list.split('\n')) {
      const addr = /\baddr=(\S+)/.exec(entry)?.[1];
      const name = /\bname=(\S*)/.exec(entry)?.[1];
      if (addr !== undefined && name) this.names.set(addr, name);
    }
  }

  /** Tickets a token was issued, in order: more than one means it lost its place once (a lapsed grant, an expired ticket). */
  issuesOf(token: string): number {
    return this.issues.filter((issue) => issue.token === token).length;
  }

  /** Live tickets of `key` at the server's `nowMs`, as the record has them. */
  lineOf(key: string, nowMs: number): string[] {
    return [...(this.lines.get(key) ?? new Map<string, TicketState>())].filter(([, t]) => t.expiry > nowMs).map(([token]) => token);
  }

  async stop(): Promise<void> {
    this.finish();
    this.connection?.disconnect();
  }

  private line(time: string, args: string[], source: string): void {
    const command = (args[0] ?? '').toLowerCase();
    if (source !== 'lua') {
      this.finish();
      if (command === 'client' && (args[1] ?? '').toLowerCase() === 'setname' && args[2] !== undefined) this.names.set(source, args[2]);
      if (command === 'eval' || command === 'evalsha') {
        const keys = Number(args[2]);
        const argv = args.slice(3 + keys);
        this.order += 1;
        this.current = {
          order: this.order,
          source,
          token: keys === 2 ? argv[0] : undefined,
          acquire: keys === 2 && argv.length >= 8,
          nowMs: undefined,
          key: undefined,
          before: undefined,
          takes: [],
          issued: new Map(),
          removed: [],
        };
      }
      return;
    }
    const run = this.current;
    if (run === undefined) return;
    if (command === 'time') {
      const [seconds = '0', micros = '0'] = time.split('.');
      run.nowMs = Number(seconds) * 1000 + Math.floor(Number(micros.padEnd(6, '0')) / 1000);
      return;
    }
    const key = args[1];
    if (key === undefined || key.endsWith(':fence')) return;
    if (!['hset', 'hdel', 'del'].includes(command)) return;
    let line = this.lines.get(key);
    if (line === undefined) {
      line = new Map();
      this.lines.set(key, line);
    }
    if (run.key === undefined) {
      run.key = key;
      run.before = new Map(line);
    }
    if (command === 'del') {
      line.clear();
      return;
    }
    const fields = args.slice(2);
    if (command === 'hdel') {
      for (const field of fields) {
        if (field.startsWith('t:') && line.delete(field.slice(2))) run.removed.push(field.slice(2));
      }
      return;
    }
    const pairs = new Map<string, string>();
    for (let i = 0; i + 1 < fields.length; i += 2) pairs.set(fields[i] as string, fields[i + 1] as string);
    for (const [field, value] of pairs) {
      if (field.startsWith('t:')) {
        const token = field.slice(2);
        const [expiry = '0', seq = '0'] = value.split(':');
        const ticket = { seq: Number(seq), expiry: Number(expiry) };
        if (line.get(token)?.seq !== ticket.seq) {
          run.issued.set(token, ticket.seq);
          this.issues.push({ order: run.order, token, seq: ticket.seq, key });
        }
        line.set(token, ticket);
      } else if (field.startsWith('r:')) {
        const token = field.slice(2);
        const fence = value.split(':')[1] ?? '';
        if (this.fences.get(token) !== fence) run.takes.push(token);
        this.fences.set(token, fence);
      } else if (field === 'w' && pairs.has('wf')) {
        run.takes.push(value);
        this.fences.set(value, pairs.get('wf') as string);
      } else if (field.startsWith('g:')) {
        this.granted.add(field.slice(2));
      }
    }
  }

  private finish(): void {
    const run = this.current;
    this.current = undefined;
    if (run === undefined || run.key === undefined) return;
    const { key, nowMs } = run;
    const before = run.before ?? new Map<string, TicketState>();
    if (run.acquire && run.token !== undefined && !this.firstAttempts.has(run.token)) {
      this.firstAttempts.set(run.token, {
        source: run.source,
        key,
        order: run.order,
        seq: run.issued.get(run.token),
        took: run.takes.includes(run.token),
      });
    }
    if (nowMs === undefined) return;
    const surelyLive = [...before].filter(([, t]) => t.expiry > nowMs + CLOCK_TOLERANCE_MS);
    for (const token of run.removed) {
      const ticket = before.get(token);
      if (token !== run.token && !run.takes.includes(token) && ticket !== undefined && ticket.expiry > nowMs + CLOCK_TOLERANCE_MS) {
        this.violations.push(`script #${run.order} (${this.nameOf(run.source) ?? run.source}) removed the live ticket ${ticket.seq} of ${token} on ${key}`);
      }
    }
    for (const taker of run.takes) {
      const own = before.get(taker)?.seq ?? run.issued.get(taker);
      const skipped = surelyLive.filter(([token, t]) => token !== taker && (own === undefined || t.seq < own) && !run.takes.includes(token) && !run.removed.includes(token));
      if (skipped.length > 0) {
        const line = [...before].map(([token, t]) => `${t.seq}:${token.slice(0, 6)}${t.expiry > nowMs ? '' : '(expired)'}`).join(' ');
        this.violations.push(
          `script #${run.order} (${this.nameOf(run.source) ?? run.source}) let ${taker.slice(0, 6)} (ticket ${own ?? 'none'}) hold ${key} ahead of ` +
            `${skipped.map(([token, t]) => `${t.seq}:${token.slice(0, 6)}`).join(', ')}; the line: ${line}`,
        );
      }
    }
  }
}

// ------------------------------------------------------------ worker processes

interface Slot {
  worker: FairWorker;
  ready: Promise<void>;
}

/** `size` worker processes labelled w0, w1...; a killed one is replaced by a new process with the same label. */
export class WorkerPool {
  private readonly slots: Slot[];
  /** Every process started, killed ones included (their messages still count). */
  readonly all: FairWorker[] = [];

  constructor(
    private readonly url: string,
    private readonly prefix: string,
    size: number,
  ) {
    this.slots = Array.from({ length: size }, (_, i) => this.start(i));
  }

  get size(): number {
    return this.slots.length;
  }

  async get(i: number): Promise<FairWorker> {
    const slot = this.slots[i] as Slot;
    await slot.ready;
    return slot.worker;
  }

  /** SIGKILLs worker `i` (resolving once it is gone, with the time it was killed) and starts its replacement. */
  async kill(i: number): Promise<{ worker: FairWorker; at: number }> {
    const worker = await this.get(i);
    const at = clock();
    await worker.kill();
    this.slots[i] = this.start(i);
    return { worker, at };
  }

  async close(): Promise<void> {
    await Promise.all(this.all.map((w) => w.kill()));
  }

  private start(i: number): Slot {
    const worker = startFairWorker(this.url, this.prefix, `w${i}`);
    this.all.push(worker);
    return { worker, ready: worker.process.message((m) => m.ready === true, 30_000).then(() => undefined) };
  }
}

// ------------------------------------------------------------ the world

export interface Timing {
  readonly lease: number;
  readonly grace: number;
  /** What a bound allows on top of yadl's own waits: scheduling on a loaded machine, IPC. */
  readonly margin: number;
}

export interface Waiter {
  readonly id: string;
  readonly worker: FairWorker;
  readonly mode: 'read' | 'write';
  readonly ttl: number | undefined;
  readonly timeout: number | undefined;
  startedAt?: number;
  token?: string;
  /** Order of its first ticket in the server's record (undefined: it took the lock at once, or its attempt failed). */
  issued?: number;
  acquiredAt?: number;
  fence?: number;
  /** When its hold ended, on its holder's side (a release or an abort started, the ttl ran out, its process was killed). */
  endAt?: number;
  endedBy?: 'release' | 'abort' | 'lost' | 'killed';
  /** When it stopped waiting without the lock (its unsubscribe or abort started, or its timeout's error came). */
  leftAt?: number;
  diedAt?: number;
  /** The release the world already asked of it. */
  releasing?: boolean;
}

export class World {
  readonly waiters: Waiter[] = [];
  readonly failures: string[] = [];
  private readonly seen = new Map<FairWorker, number>();
  private count = 0;

  constructor(
    readonly name: string,
    readonly key: string,
    readonly pool: WorkerPool,
    readonly log: ServerLog,
    readonly timing: Timing,
  ) {}

  waiting(): Waiter[] {
    return this.waiters.filter((w) => w.acquiredAt === undefined && w.leftAt === undefined && w.diedAt === undefined);
  }

  holding(): Waiter[] {
    return this.waiters.filter((w) => w.acquiredAt !== undefined && w.endAt === undefined);
  }

  /** Sends one waiter and resolves once Redis has run its first attempt (a ticket, the lock, or an error). */
  async enqueue(proc: number, options: { mode: 'read' | 'write'; ttl?: number; timeout?: number }): Promise<Waiter> {
    const worker = await this.pool.get(proc);
    const waiter: Waiter = { id: `${this.name}-${this.count++}`, worker, mode: options.mode, ttl: options.ttl, timeout: options.timeout };
    this.waiters.push(waiter);
    const since = this.log.position;
    const lock: LockOptionsOf = {
      api: 'lock$',
      mode: options.mode,
      fair: true,
      lease: this.timing.lease,
      handoffGrace: this.timing.grace,
      ...(options.ttl !== undefined ? { ttl: options.ttl } : {}),
      ...(options.timeout !== undefined ? { timeout: options.timeout } : {}),
    };
    worker.lock(waiter.id, this.name, lock);
    const until = performance.now() + 15_000;
    const known = new Set(this.waiters.map((w) => w.token));
    for (;;) {
      this.sync();
      const first = [...this.log.firstAttempts].find(
        ([token, a]) => a.order > since && a.key === this.key && !known.has(token) && this.log.nameOf(a.source) === worker.label,
      );
      if (first !== undefined) {
        const [token, attempt] = first;
        waiter.token = token;
        if (attempt.seq !== undefined) waiter.issued = this.log.issues.find((i) => i.token === token)?.order;
        return waiter;
      }
      if (waiter.leftAt !== undefined || !worker.alive) return waiter;
      if (performance.now() > until) throw new Error(`${waiter.id}: its first attempt never showed in MONITOR`);
      if ([...this.log.firstAttempts.values()].some((a) => a.order > since && this.log.nameOf(a.source) === undefined)) {
        await this.log.refreshNames();
      }
      await sleep(5);
    }
  }

  async cancel(waiter: Waiter, how: 'unsubscribe' | 'abort'): Promise<void> {
    if (how === 'abort') waiter.worker.abort(waiter.id);
    else waiter.worker.release(waiter.id);
    const until = performance.now() + 10_000;
    while (waiter.leftAt === undefined && waiter.endAt === undefined && waiter.diedAt === undefined) {
      if (performance.now() > until) throw new Error(`${waiter.id} did not end after ${how}`);
      await sleep(5);
      this.sync();
    }
  }

  async release(holder: Waiter): Promise<void> {
    holder.releasing = true;
    holder.worker.release(holder.id);
    const until = performance.now() + 10_000;
    while (holder.endAt === undefined) {
      if (performance.now() > until) throw new Error(`${holder.id} did not release`);
      await sleep(5);
      this.sync();
    }
  }

  async kill(proc: number): Promise<void> {
    const { worker, at } = await this.pool.kill(proc);
    this.sync();
    for (const w of this.waiters) {
      if (w.worker !== worker || w.leftAt !== undefined || w.endAt !== undefined) continue;
      w.diedAt = at;
      if (w.acquiredAt !== undefined) {
        w.endAt = at;
        w.endedBy = 'killed';
      }
    }
  }

  async pause(ms: number): Promise<void> {
    const until = performance.now() + ms;
    while (performance.now() < until) {
      await sleep(Math.min(20, Math.max(0, until - performance.now())));
      this.sync();
    }
  }

  /** Lets every live waiter be served (each released as soon as it holds) or leave; fails if one is still waiting after `withinMs`. */
  async drain(withinMs: number): Promise<void> {
    const until = performance.now() + withinMs;
    for (;;) {
      this.sync();
      for (const holder of this.holding()) {
        if (holder.releasing || holder.diedAt !== undefined) continue;
        holder.releasing = true;
        holder.worker.release(holder.id);
      }
      const live = this.holding().filter((w) => w.diedAt === undefined);
      if (this.waiting().length === 0 && live.length === 0) return;
      if (performance.now() > until) {
        throw new Error(
          `still waiting after the drain (${withinMs} ms): ${this.waiting().map((w) => w.id).join(', ')}; ` +
            `holding: ${live.map((w) => w.id).join(', ')}; the line: ${JSON.stringify(this.log.lineOf(this.key, Date.now()))}`,
        );
      }
      await sleep(5);
    }
  }

  /** Applies what the workers said since last time. */
  sync(): void {
    for (const worker of this.pool.all) {
      const messages = worker.process.messages;
      for (let i = this.seen.get(worker) ?? 0; i < messages.length; i++) this.apply(messages[i] as unknown as WaiterEvent);
      this.seen.set(worker, messages.length);
    }
  }

  private apply(event: WaiterEvent): void {
    const w = this.waiters.find((x) => x.id === event.id);
    if (w === undefined) return;
    if (event.started !== undefined) w.startedAt = event.started;
    if (event.acquired !== undefined) {
      w.acquiredAt = event.acquired;
      w.fence = event.fence;
      if (event.token !== undefined && w.token !== undefined && event.token !== w.token) {
        this.failures.push(`${w.id} holds as ${event.token}, but its first attempt was ${w.token}`);
      }
      w.token ??= event.token;
    }
    const held = w.acquiredAt !== undefined;
    if (event.aborting !== undefined) {
      if (held) {
        w.endAt ??= event.aborting;
        w.endedBy ??= 'abort';
      } else w.leftAt ??= event.aborting;
    }
    if (event.released !== undefined) {
      if (held) {
        w.endAt ??= event.released;
        w.endedBy ??= 'release';
      } else w.leftAt ??= event.released;
    }
    if (event.error !== undefined) {
      const at = event.at ?? clock();
      if (event.errorName === 'LockLostError' && held) {
        w.endAt ??= at;
        w.endedBy ??= 'lost';
      } else if (event.errorName === 'LockTimeoutError' && !held) {
        w.leftAt ??= at;
      } else if (!event.error.includes('aborted by the test')) {
        this.failures.push(`${w.id}: unexpected ${event.errorName}: ${event.error}`);
        if (held) w.endAt ??= at;
        else w.leftAt ??= at;
      }
    }
  }

  // ---------------------------------------------------------- checks after a run

  /** Holds that overlap where one of them writes. */
  overlaps(): string[] {
    const holds = this.waiters.filter((w) => w.acquiredAt !== undefined);
    const found: string[] = [];
    holds.forEach((a, i) => {
      for (const b of holds.slice(i + 1)) {
        if (a.mode === 'read' && b.mode === 'read') continue;
        const aEnd = a.endAt ?? Infinity;
        const bEnd = b.endAt ?? Infinity;
        if ((a.acquiredAt as number) < bEnd && (b.acquiredAt as number) < aEnd) {
          found.push(`${a.id} (${a.mode}, ${fmt(a.acquiredAt)}-${fmt(a.endAt)}) and ${b.id} (${b.mode}, ${fmt(b.acquiredAt)}-${fmt(b.endAt)})`);
        }
      }
    });
    return found;
  }

  /**
   * When a hold stopped keeping others out, at the latest: its release (or
   * abort) as its holder started it; a ttl's end; a killed holder's last
   * renewal plus a lease.
   */
  private freeBound(h: Waiter): number {
    const acquired = h.acquiredAt as number;
    const end = h.endAt as number;
    if (h.endedBy === 'release' || h.endedBy === 'abort') return end;
    if (h.ttl !== undefined) return acquired + h.ttl;
    return end + this.timing.lease;
  }

  /**
   * Every waiter that got the lock through the line got it within the
   * margin of the moment it could (its start, the end of every conflicting
   * hold before it, the departure of everyone ahead of it), plus one grace
   * and margin for each waiter ahead of it that was dead or lost its grant.
   * Returns the longest wait past that moment, for the record.
   */
  checkWaits(): number {
    const { grace, margin } = this.timing;
    let longest = 0;
    for (const x of this.waiters) {
      if (x.acquiredAt === undefined || x.issued === undefined || x.startedAt === undefined) continue;
      const acquired = x.acquiredAt;
      let from = x.startedAt;
      let skipped = 0;
      const why: string[] = [];
      for (const y of this.waiters) {
        if (y === x) continue;
        const conflicts = x.mode === 'write' || y.mode === 'write';
        if (conflicts && y.acquiredAt !== undefined && y.acquiredAt < acquired && y.endAt !== undefined) {
          from = Math.max(from, this.freeBound(y));
        }
        const ahead = y.issued !== undefined && y.issued < (x.issued as number);
        const servedFirst = y.acquiredAt !== undefined && y.acquiredAt < acquired;
        if (!ahead || servedFirst) continue;
        if (y.leftAt !== undefined && y.leftAt < acquired) from = Math.max(from, y.leftAt);
        if (y.diedAt !== undefined && y.diedAt < acquired) {
          skipped += 1;
          why.push(`${y.id} dead`);
        } else if (y.token !== undefined && this.log.issuesOf(y.token) > 1) {
          skipped += 1;
          why.push(`${y.id} lost its grant`);
        }
      }
      const late = acquired - from;
      const bound = margin + skipped * (grace + margin);
      longest = Math.max(longest, late - skipped * grace);
      if (late > bound) {
        this.failures.push(
          `${x.id} (${x.mode}) acquired ${late.toFixed(0)} ms after it could (bound ${bound} ms` +
            `${why.length > 0 ? `: ${why.join(', ')} ahead` : ''})`,
        );
      }
    }
    return longest;
  }

  /** After the drain, only dead waiters may still have a place in the line (their tickets expire by themselves). */
  async checkLine(admin: Redis): Promise<void> {
    const raw = await admin.hgetall(this.key);
    const dead = new Set(this.waiters.filter((w) => w.diedAt !== undefined).map((w) => w.token));
    for (const field of Object.keys(raw)) {
      const match = /^[tgr]:(.*)$/.exec(field);
      if (match !== null && !dead.has(match[1])) this.failures.push(`${field} left in ${this.key} by a live waiter`);
      if (field === 'w' && !dead.has(raw.w)) this.failures.push(`the writer ${raw.w} left in ${this.key}`);
    }
  }

  describe(): string {
    return this.waiters
      .map((w) => {
        const parts = [`${w.id} ${w.worker.label} ${w.mode}`];
        if (w.ttl !== undefined) parts.push(`ttl ${w.ttl}`);
        if (w.timeout !== undefined) parts.push(`timeout ${w.timeout}`);
        if (w.issued !== undefined) parts.push(`issue #${w.issued}`);
        parts.push(`start ${fmt(w.startedAt)}`);
        if (w.acquiredAt !== undefined) parts.push(`held ${fmt(w.acquiredAt)}-${fmt(w.endAt)} (${w.endedBy ?? 'still'}) fence ${w.fence}`);
        if (w.leftAt !== undefined) parts.push(`left ${fmt(w.leftAt)}`);
        if (w.diedAt !== undefined) parts.push(`killed ${fmt(w.diedAt)}`);
        return parts.join(', ');
      })
      .join('\n');
  }
}

/** Times relative to the first one printed, so that a failure reads as a timeline. */
let origin: number | undefined;
function fmt(t: number | undefined): string {
  if (t === undefined) return '…';
  origin ??= t;
  return (t - origin).toFixed(0);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
