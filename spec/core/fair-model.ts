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
import type { Redis } from 'ioredis';
import { startMonitor, type RedisMonitor } from '../support/monitor';
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
  /** The script's place in the record. */
  readonly order: number;
}

/**
 * MONITOR on its own connection, replayed into each lock's line: which
 * tickets are live when a script runs (by their expiry, on the server's
 * clock as the script's TIME read it), which tokens it issues tickets to,
 * and which it lets hold (a take: a writer's w with a new fence, or a
 * reader's r: with a new fence; grants included). Every take must leave no
 * live ticket ahead of its own behind (readers granted together are taken
 * in the same script); a script may remove only its own token's ticket,
 * expired ones, and heads it skips (from the front of the line).
 */
export class ServerLog {
  readonly violations: string[] = [];
  /** Tickets issued, in the order Redis issued them: [order, token, seq, key]. */
  readonly issues: Array<{ readonly order: number; readonly token: string; readonly seq: number; readonly key: string }> = [];
  readonly firstAttempts = new Map<string, FirstAttempt>();
  /** Tokens that held a grant (g:) at some point. */
  readonly granted = new Set<string>();
  /** Every take (grants included), in order; `grant`: the release or withdraw of another handed it over. */
  readonly takes: Array<{ readonly order: number; readonly token: string; grant: boolean }> = [];
  /** Granted tokens that confirmed their grant (their own attempt made it a full hold). */
  readonly confirmed = new Set<string>();
  /** The expiry (server ms) each token's hold was last given: by its take, grant, confirmation or renewal. */
  readonly holdExpiry = new Map<string, number>();
  private readonly writers = new Map<string, string>();
  /** The last script whose every call the record has (the next command came). */
  finished = 0;
  private readonly lines = new Map<string, Map<string, TicketState>>();
  private readonly fences = new Map<string, string>();
  private readonly names = new Map<string, string>();
  private current: ScriptRun | undefined;
  private order = 0;
  /** What the record saw, line by line, per lock key: printed when a run fails. */
  private readonly transcript = new Map<string, string[]>();
  private pending: string[] = [];
  private connection: RedisMonitor | undefined;

  private constructor(private readonly admin: Redis) {}

  static async start(url: string, admin: Redis): Promise<ServerLog> {
    const log = new ServerLog(admin);
    await log.refreshNames();
    log.connection = await startMonitor(url, (time, args, source) => log.line(time, args, source));
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

  /**
   * Whether `token` held the lock for its own (took it, or confirmed a
   * grant), from before Redis first let `other` hold.
   */
  heldBefore(token: string | undefined, other: string | undefined): boolean {
    if (token === undefined) return false;
    const first = this.takes.find((t) => t.token === token);
    const second = this.takes.find((t) => t.token === other);
    const held = first !== undefined && (!first.grant || this.confirmed.has(token));
    return held && (second === undefined || first.order <= second.order);
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
    // As before, a record that broke off is not an error here: stop() runs in the caller's cleanup, before the workers close.
    await this.connection?.stop().catch(() => undefined);
  }

  /** The commands the record saw on `key` (scripts with their calls), for a failure's message. */
  transcriptOf(key: string): string {
    return (this.transcript.get(key) ?? []).join('\n');
  }

  private note(time: string, args: string[], source: string): void {
    const text = `${time.slice(-10)} ${source === 'lua' ? '    ' : (this.nameOf(source) ?? source)} ${args.map((a) => (a.length > 40 ? `${a.slice(0, 12)}…` : a)).join(' ')}`;
    const key = args.find((a) => a.includes(':lock:{') && !a.endsWith(':fence'));
    if (source !== 'lua') this.pending = [text];
    else this.pending.push(text);
    if (key === undefined) return;
    let lines = this.transcript.get(key);
    if (lines === undefined) {
      lines = [];
      this.transcript.set(key, lines);
    }
    lines.push(...this.pending);
    this.pending = [];
  }

  private line(time: string, args: string[], source: string): void {
    this.note(time, args, source);
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
    if (key === undefined || key.endsWith(':fence') || !key.includes(':lock:{')) return;
    // Recorded at once: a script is only known to be over when the next command comes, which may take long.
    if (run.acquire && run.token !== undefined && !this.firstAttempts.has(run.token)) {
      this.firstAttempts.set(run.token, { source: run.source, key, order: run.order });
    }
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
        if (run.acquire && field === `g:${run.token}`) this.confirmed.add(run.token as string);
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
        const [expiry = '0', fence = ''] = value.split(':');
        if (this.fences.get(token) !== fence) this.took(run, token);
        this.fences.set(token, fence);
        this.holdExpiry.set(token, Number(expiry));
      } else if (field === 'w' && pairs.has('wf')) {
        this.took(run, value);
        this.fences.set(value, pairs.get('wf') as string);
        this.writers.set(key, value);
      } else if (field === 'wx') {
        const writer = pairs.get('w') ?? this.writers.get(key);
        if (writer !== undefined) this.holdExpiry.set(writer, Number(value));
      } else if (field.startsWith('g:')) {
        const token = field.slice(2);
        this.granted.add(token);
        const take = this.takes.at(-1);
        // grantLine writes the hold, then its g: mark.
        if (take !== undefined && take.token === token && take.order === run.order) take.grant = true;
      }
    }
  }

  private took(run: ScriptRun, token: string): void {
    run.takes.push(token);
    this.takes.push({ order: run.order, token, grant: false });
  }

  private finish(): void {
    const run = this.current;
    this.current = undefined;
    if (run === undefined) return;
    this.finished = run.order;
    if (run.key === undefined) return;
    const { key, nowMs } = run;
    const before = run.before ?? new Map<string, TicketState>();
    if (nowMs === undefined) return;
    const surelyLive = [...before].filter(([, t]) => t.expiry > nowMs + CLOCK_TOLERANCE_MS);
    // Another's live ticket goes only as a skip of heads that let their turn pass: from the front of the line.
    const byLine = [...before].filter(([, t]) => t.expiry > nowMs - CLOCK_TOLERANCE_MS).sort(([, a], [, b]) => a.seq - b.seq);
    const skipped = run.removed.filter((token) => token !== run.token && !run.takes.includes(token) && before.has(token));
    for (const token of skipped) {
      const ticket = before.get(token) as TicketState;
      const front = byLine.slice(0, skipped.length).some(([t]) => t === token);
      if (!front && ticket.expiry > nowMs + CLOCK_TOLERANCE_MS) {
        const line = byLine.map(([t, x]) => `${x.seq}:${t.slice(0, 6)}`).join(' ');
        this.violations.push(
          `script #${run.order} (${this.nameOf(run.source) ?? run.source}) removed the live ticket ${ticket.seq} of ${token.slice(0, 6)}, ` +
            `not at the front of the line on ${key}: ${line}`,
        );
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
  /** What skipping one dead waiter may add on top of its grace: a timer's lateness and one attempt. */
  readonly skipSlack: number;
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
  /** When it stopped waiting without the lock, at the earliest: its unsubscribe or abort started, its timeout ran out. */
  leftAt?: number;
  /** ...and at the latest (a timeout's error comes once its withdraw is answered, or 25 ms after it was sent). */
  leftLatest?: number;
  diedAt?: number;
  /** The release the world already asked of it. */
  releasing?: boolean;
}

export class World {
  readonly waiters: Waiter[] = [];
  readonly failures: string[] = [];
  private readonly seen = new Map<FairWorker, number>();
  private count = 0;
  /** Server ms (the machine's real-time clock, as TIME reads it) less this is CLOCK_MONOTONIC ms. */
  private readonly offset = Date.now() - clock();

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
        const issue = this.log.issues.find((i) => i.token === token);
        // Its attempt's outcome: a ticket, the lock, or (the script over) neither.
        if (issue !== undefined || this.log.takes.some((t) => t.token === token) || this.log.finished >= attempt.order) {
          waiter.token = token;
          waiter.issued = issue?.order;
          return waiter;
        }
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
        w.leftAt ??= w.startedAt !== undefined && w.timeout !== undefined ? Math.min(at, w.startedAt + w.timeout) : at;
        w.leftLatest ??= at;
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
          const span = (w: Waiter): string => `${(w.acquiredAt as number).toFixed(0)}-${w.endAt?.toFixed(0) ?? '…'}`;
          found.push(`${a.id} (${a.mode}, ${span(a)}) and ${b.id} (${b.mode}, ${span(b)})`);
        }
      }
    });
    return found;
  }

  /**
   * When a hold stopped keeping others out: its release (or abort) as its
   * holder started it; otherwise (a ttl ran out, its holder was killed) the
   * expiry Redis last gave it, as the server's record has it.
   */
  private freeBound(h: Waiter): number {
    if (h.endedBy === 'release' || h.endedBy === 'abort') return h.endAt as number;
    return this.expiryOf(h) ?? (h.ttl !== undefined ? (h.acquiredAt as number) + h.ttl : (h.endAt as number) + this.timing.lease);
  }

  /** The expiry Redis last gave `h`'s hold, on CLOCK_MONOTONIC (1 ms added for the server's rounding). */
  private expiryOf(h: Waiter): number | undefined {
    const expiry = h.token === undefined ? undefined : this.log.holdExpiry.get(h.token);
    return expiry === undefined ? undefined : expiry - this.offset + 1;
  }

  /**
   * Every waiter that got the lock through the line got it within the
   * margin of the moment it could (its start, the end of every conflicting
   * hold before it, the departure of everyone ahead of it), plus one grace
   * and skipSlack for each waiter ahead of it that was dead or lost its grant.
   * Returns the longest wait past that moment (less the graces allowed), for the record.
   */
  checkWaits(): { ms: number; who: string } {
    const { grace, margin, skipSlack } = this.timing;
    let longest = { ms: 0, who: '' };
    for (const x of this.waiters) {
      if (x.acquiredAt === undefined || x.issued === undefined || x.startedAt === undefined) continue;
      const acquired = x.acquiredAt;
      let from = x.startedAt;
      let skipped = 0;
      const why: string[] = [];
      // A reader behind a writer that never took its turn (dead, or it lost its grant) waited as that writer did: for readers too.
      const writerAhead = this.waiters.some(
        (z) =>
          z.mode === 'write' &&
          z.issued !== undefined &&
          z.issued < (x.issued as number) &&
          !(z.acquiredAt !== undefined && z.acquiredAt < acquired) &&
          ((z.diedAt !== undefined && z.diedAt < acquired) || (z.token !== undefined && this.log.issuesOf(z.token) > 1)),
      );
      for (const y of this.waiters) {
        if (y === x) continue;
        const conflicts = x.mode === 'write' || y.mode === 'write' || writerAhead;
        if (conflicts && y.acquiredAt !== undefined && y.acquiredAt < acquired && y.endAt !== undefined) {
          from = Math.max(from, this.freeBound(y));
        }
        // Killed once Redis let it hold for its own, before its process said so: it held until its hold ran out.
        if (conflicts && y.acquiredAt === undefined && y.diedAt !== undefined && y.diedAt < acquired && this.log.heldBefore(y.token, x.token)) {
          from = Math.max(from, this.expiryOf(y) ?? y.diedAt + (y.ttl ?? this.timing.lease));
          continue;
        }
        const ahead = y.issued !== undefined && y.issued < (x.issued as number);
        const servedFirst = y.acquiredAt !== undefined && y.acquiredAt < acquired;
        if (!ahead || servedFirst) continue;
        // Gone by then, at the latest, or by the time x got in (its leaving may be what let x in).
        if (y.leftAt !== undefined && y.leftAt < acquired) from = Math.max(from, Math.min(y.leftLatest ?? y.leftAt, acquired));
        if (y.diedAt !== undefined && y.diedAt < acquired) {
          skipped += 1;
          why.push(`${y.id} dead`);
        } else if (y.token !== undefined && this.log.issuesOf(y.token) > 1) {
          skipped += 1;
          why.push(`${y.id} lost its grant`);
        }
      }
      const late = acquired - from;
      const bound = margin + skipped * (grace + skipSlack);
      if (late - skipped * grace > longest.ms) longest = { ms: late - skipped * grace, who: `${x.id} (${x.mode}${why.length > 0 ? `; ${why.join(', ')}` : ''})` };
      if (late > bound) {
        this.failures.push(
          `${x.id} (${x.mode}) acquired ${late.toFixed(0)} ms after it could (bound ${bound} ms` +
            `${why.length > 0 ? `: ${why.join(', ')} ahead` : ''})`,
        );
      }
    }
    return longest;
  }

  /**
   * After the drain, only dead waiters may still have a place in the line
   * (their tickets expire by themselves). Polled for a while: a waiter's
   * error comes at most 25 ms after its withdraw was sent, not once it ran.
   */
  async checkLine(admin: Redis, withinMs = 2_000): Promise<void> {
    const dead = new Set(this.waiters.filter((w) => w.diedAt !== undefined).map((w) => w.token));
    const until = performance.now() + withinMs;
    for (;;) {
      const raw = await admin.hgetall(this.key);
      const left: string[] = [];
      for (const field of Object.keys(raw)) {
        const match = /^[tgr]:(.*)$/.exec(field);
        if (match !== null && !dead.has(match[1])) left.push(`${field} left in ${this.key} by a live waiter`);
        if (field === 'w' && !dead.has(raw.w)) left.push(`the writer ${raw.w} left in ${this.key}`);
      }
      if (left.length === 0) return;
      if (performance.now() > until) {
        this.failures.push(...left);
        return;
      }
      await sleep(20);
    }
  }

  /** What each waiter did, in ms from the first one's start. */
  describe(): string {
    const origin = Math.min(...this.waiters.map((w) => w.startedAt ?? Infinity));
    const fmt = (t: number | undefined): string => (t === undefined ? '…' : (t - origin).toFixed(0));
    return this.waiters
      .map((w) => {
        const parts = [`${w.id} ${w.worker.label} ${w.mode}`];
        if (w.ttl !== undefined) parts.push(`ttl ${w.ttl}`);
        if (w.timeout !== undefined) parts.push(`timeout ${w.timeout}`);
        if (w.issued !== undefined) parts.push(`issue #${w.issued}`);
        parts.push(`start ${fmt(w.startedAt)}`);
        if (w.acquiredAt !== undefined) parts.push(`held ${fmt(w.acquiredAt)}-${fmt(w.endAt)} (${w.endedBy ?? 'still'}) fence ${w.fence}`);
        if (w.acquiredAt === undefined && w.token !== undefined && this.log.heldBefore(w.token, undefined)) parts.push('held (its process never said)');
        if (w.leftAt !== undefined) parts.push(`left ${fmt(w.leftAt)}`);
        if (w.diedAt !== undefined) parts.push(`killed ${fmt(w.diedAt)}`);
        return parts.join(', ');
      })
      .join('\n');
  }
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));
