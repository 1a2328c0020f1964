/**
 * Runs one randomized schedule (schedule-plan.ts) for
 * spec/faults/schedule.model.spec.ts: a redis-server of its own (busy-reply-threshold
 * 50 ms; CONFIG renamed away when the plan says so), a fault proxy in front
 * of it, 2-3 worker processes (spec/support/fault-workers/schedule-holder.ts,
 * kept across runs) whose holders connect through the proxy, and the faults
 * injected from here at their times. Then it waits for every subscription
 * to end, for the lock state to leave Redis and for each worker to report
 * yadl's diagnostics at zero, and hands everything to schedule-checks.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { startFaultProxy, type FaultProxy, type ProxiedConnection } from '../support/fault-proxy';
import { ADMIN_NAME, stateKey, type FaultKit } from './fault-kit';
import { checkRun, type RunRecord, type WorkerRecord } from './schedule-checks';
import { describePlan, faultsEndMs, type FaultPlan, type FromWorker, type RunPlan, type Target, type ToWorker } from './schedule-plan';

/** CLOCK_MONOTONIC in ms: the clock of every record, shared with the workers. */
export const nowMs = (): number => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));

export const PREFIX = 'sched';
/** A worker that sent no heartbeat for this long is hung (spinning without yielding, or stuck). */
const HUNG_AFTER_MS = 3_000;
/** A Lua script that keeps Redis busy for ARGV[1] ms by its own clock, then ends. */
const BUSY_SCRIPT = `
local t = redis.call('TIME')
local from = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local spins = 0
while true do
  spins = spins + 1
  local c = redis.call('TIME')
  if tonumber(c[1]) * 1000 + math.floor(tonumber(c[2]) / 1000) - from >= tonumber(ARGV[1]) then return spins end
end`;

// ------------------------------------------------------------- workers

const WORKER_FILE = fileURLToPath(new URL('../support/fault-workers/schedule-holder.ts', import.meta.url));

/** One worker process: its heartbeats and the events of the current run. */
class ScheduleWorker {
  readonly child: ChildProcess;
  readonly ready: Promise<void>;
  readonly exited: Promise<void>;
  beats: number[] = [];
  cpu: number[] = [];
  /** nowMs() when a heartbeat batch last arrived. */
  lastHeard = nowMs();
  /** Set while a run is going: where its messages go. */
  sink: ((message: FromWorker) => void) | undefined;
  private stderrText = '';

  constructor(public slot: number) {
    this.child = spawn(process.execPath, ['--import', 'tsx', WORKER_FILE], {
      stdio: ['ignore', 'ignore', 'pipe', 'ipc'],
      env: process.env,
    });
    this.child.stderr?.setEncoding('utf8');
    this.child.stderr?.on('data', (chunk: string) => {
      this.stderrText = (this.stderrText + chunk).slice(-8_000);
    });
    this.exited = new Promise((resolve) => this.child.once('exit', () => resolve()));
    this.ready = new Promise<void>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`schedule worker ${slot} not ready within 60 s:\n${this.stderrText}`)), 60_000);
      timer.unref();
      this.child.once('exit', (code, signal) => {
        clearTimeout(timer);
        reject(new Error(`schedule worker ${slot} exited (${code ?? signal}) before it was ready:\n${this.stderrText}`));
      });
      this.child.on('message', (raw) => {
        const message = raw as FromWorker;
        if (message.type === 'ready') {
          clearTimeout(timer);
          resolve();
        } else if (message.type === 'hb') {
          this.lastHeard = nowMs();
          this.beats.push(...message.times);
          this.cpu.push(...message.cpu);
        }
        this.sink?.(message);
      });
    });
    this.ready.catch(() => undefined);
  }

  get alive(): boolean {
    return this.child.exitCode === null && this.child.signalCode === null;
  }

  stderr(): string {
    return this.stderrText;
  }

  send(message: ToWorker): void {
    if (this.alive && this.child.connected) this.child.send(message);
  }

  /** Forgets heartbeats before a run. */
  resetBeats(): void {
    this.beats = [];
    this.cpu = [];
    this.lastHeard = nowMs();
  }

  async kill(): Promise<void> {
    if (this.alive) this.child.kill('SIGKILL');
    await this.exited;
  }
}

/**
 * Up to three workers kept across runs, and a spare started ahead (starting
 * one through tsx takes seconds on a loaded machine); a killed or suspect
 * worker is replaced by the spare.
 */
export class WorkerPool {
  private readonly workers: ScheduleWorker[] = [];
  private spare: ScheduleWorker;
  spawned = 0;

  constructor(private readonly size: number) {
    for (let slot = 0; slot < size; slot++) this.workers.push(this.spawn(slot));
    this.spare = this.spawn(-1);
  }

  private spawn(slot: number): ScheduleWorker {
    this.spawned += 1;
    return new ScheduleWorker(slot);
  }

  async take(count: number): Promise<ScheduleWorker[]> {
    for (let slot = 0; slot < this.size; slot++) {
      if (!(this.workers[slot] as ScheduleWorker).alive) this.replace(slot);
    }
    const taken = this.workers.slice(0, count);
    await Promise.all(taken.map((w) => w.ready));
    return taken;
  }

  /** SIGKILLs the worker in `slot` and starts its replacement at once (it gets ready meanwhile). */
  replace(slot: number): void {
    const old = this.workers[slot] as ScheduleWorker;
    void old.kill();
    this.spare.slot = slot;
    this.workers[slot] = this.spare;
    this.spare = this.spawn(-1);
  }

  /** After a failed run nothing of it may linger into the next: every worker is replaced. */
  replaceAll(): void {
    for (let slot = 0; slot < this.size; slot++) this.replace(slot);
  }

  async close(): Promise<void> {
    await Promise.all([...this.workers, this.spare].map((w) => w.kill()));
  }
}

// ------------------------------------------------------------- faults

interface FaultContext {
  readonly proxy: FaultProxy;
  readonly admin: Redis;
  readonly busy: Redis;
  readonly workers: ScheduleWorker[];
  readonly log: (line: string) => void;
  readonly killed: { worker: number; at: number }[];
  readonly replace: (slot: number) => void;
}

function pick(proxy: FaultProxy, target: Target): ProxiedConnection[] {
  const live = proxy.connections();
  if (target === 'all' || live.length === 0) return live;
  return [live[target % live.length] as ProxiedConnection];
}

async function clientIds(admin: Redis, type: 'normal' | 'pubsub'): Promise<string[]> {
  const list = (await admin.call('CLIENT', 'LIST', 'TYPE', type)) as string;
  return list
    .split('\n')
    .filter((line) => line.length > 0 && !line.includes(` name=${ADMIN_NAME} `))
    .map((line) => /^id=(\d+)/.exec(line)?.[1] ?? '')
    .filter((id) => id !== '');
}

/** Injects one fault and resolves once it is over (held replies released, pause ended, ...). */
async function inject(f: FaultPlan, c: FaultContext): Promise<void> {
  const { proxy, admin, log } = c;
  switch (f.kind) {
    case 'delay': {
      const targets = f.target === 'all' ? undefined : pick(proxy, f.target);
      log(`fault: delay replies ${f.ms} ms on ${targets === undefined ? 'all' : `connection ${targets.map((t) => t.id).join(',')}`} for ${f.forMs} ms`);
      if (targets === undefined) proxy.delayReplies(f.ms);
      else targets.forEach((t) => t.delayReplies(f.ms));
      await sleep(f.forMs);
      if (targets === undefined) proxy.delayReplies(0);
      else targets.forEach((t) => t.delayReplies(0));
      return;
    }
    case 'hold': {
      const targets = f.target === 'all' ? undefined : pick(proxy, f.target);
      log(`fault: hold replies on ${targets === undefined ? 'all' : `connection ${targets.map((t) => t.id).join(',')}`} for ${f.forMs} ms`);
      if (targets === undefined) proxy.holdReplies();
      else targets.forEach((t) => t.holdReplies());
      await sleep(f.forMs);
      if (targets === undefined) proxy.releaseReplies();
      else targets.forEach((t) => t.releaseReplies());
      return;
    }
    case 'drop': {
      const [target] = pick(proxy, f.target);
      if (target === undefined) return log('fault: drop skipped (no connection)');
      log(`fault: drop ${f.count} replies on connection ${target.id}, nothing more until it is cut ${f.cutAfterMs} ms later`);
      // TCP never loses one reply and delivers the next: what is lost is all
      // of it until the connection dies. Later replies are held (and so lost
      // with the cut); forwarding them would pair them with the wrong commands
      // (ioredis matches by position), a fault no real network makes (seed
      // 1773523724 path 3 granted a writer's fence to a reader that way).
      target.dropReplies(f.count);
      target.holdReplies();
      await sleep(f.cutAfterMs);
      target.cut();
      return;
    }
    case 'cut': {
      const targets = pick(proxy, f.target);
      log(`fault: cut connection(s) ${targets.map((t) => t.id).join(',') || '(none)'}`);
      targets.forEach((t) => t.cut());
      return;
    }
    case 'freeze':
      log(`fault: freeze the proxy for ${f.forMs} ms`);
      proxy.freeze();
      await sleep(f.forMs);
      proxy.thaw();
      return;
    case 'pause': {
      const reply = await admin.call('CLIENT', 'PAUSE', String(f.ms), f.write ? 'WRITE' : 'ALL').then(String, (e: unknown) => String(e));
      log(`fault: CLIENT PAUSE ${f.ms} ${f.write ? 'WRITE' : 'ALL'}: ${reply}`);
      await sleep(f.ms);
      return;
    }
    case 'kill': {
      try {
        const ids = await clientIds(admin, f.type);
        const victims = f.target === 'all' || ids.length === 0 ? ids : [ids[f.target % ids.length] as string];
        const killed = await Promise.all(victims.map((id) => admin.call('CLIENT', 'KILL', 'ID', id).then(String, (e: unknown) => String(e))));
        log(`fault: CLIENT KILL ${f.type} ids ${victims.join(',') || '(none)'}: ${killed.join(',')}`);
      } catch (error) {
        log(`fault: CLIENT KILL ${f.type} failed: ${String(error)}`);
      }
      return;
    }
    case 'busy': {
      log(`fault: busy script for ${f.ms} ms`);
      const spins = await c.busy.eval(BUSY_SCRIPT, 0, String(f.ms)).then(String, (e: unknown) => String(e));
      log(`fault: busy script over (${spins})`);
      return;
    }
    case 'sigkill': {
      const worker = c.workers[f.worker];
      if (worker === undefined || !worker.alive) return;
      c.killed.push({ worker: f.worker, at: nowMs() });
      c.replace(f.worker); // SIGKILLs it; a spare takes its slot for the next run
      log(`fault: SIGKILL worker ${f.worker} (pid ${worker.child.pid})`);
      return;
    }
  }
}

// ------------------------------------------------------------- one run

export interface RunOutcome {
  readonly violations: string[];
  /** Counts for the summary. */
  readonly stats: Record<string, number>;
  /** A readable account of the run, for a failure message. */
  readonly report: string;
}

let runCounter = 0;

export async function runSchedule(plan: RunPlan, kit: FaultKit, pool: WorkerPool): Promise<RunOutcome> {
  const run = ++runCounter;
  const startedAt = nowMs();
  const server = await kit.server({ args: ['--busy-reply-threshold', '50', ...(plan.config ? [] : ['--rename-command', 'CONFIG', ''])] });
  const proxy = await startFaultProxy(server);
  const admin = kit.admin(server.url);
  const busy = kit.admin(server.url);
  const lines: string[] = [];
  let t0 = nowMs() + 10_000;
  const log = (line: string): void => void lines.push(`${(nowMs() - t0).toFixed(1).padStart(8)} ms  ${line}`);
  try {
    await Promise.all([admin.ping(), busy.ping()]);
    const workers = await pool.take(plan.workers);
    const records: WorkerRecord[] = workers.map((w) => ({ worker: w.slot, pid: w.child.pid ?? -1, events: [], beats: [], cpu: [], unhandled: [], quiet: undefined, hung: false }));
    for (const [i, w] of workers.entries()) {
      const record = records[i] as WorkerRecord;
      w.resetBeats();
      w.sink = (message) => {
        if (message.type === 'event' && message.run === run) {
          record.events.push(message);
          log(`w${w.slot} #${message.id} ${eventText(message)}`);
        } else if (message.type === 'unhandled') {
          record.unhandled.push(message);
          log(`w${w.slot} UNHANDLED ${message.kind}: ${message.message}`);
        } else if (message.type === 'quiet' && message.run === run) {
          record.quiet = message;
        }
      };
    }
    const killed: { worker: number; at: number }[] = [];
    const context: FaultContext = { proxy, admin, busy, workers, log, killed, replace: (slot) => pool.replace(slot) };

    // ---- the schedule
    t0 = nowMs() + 200;
    for (const w of workers) {
      w.send({ op: 'run', run, url: proxy.url, prefix: PREFIX, t0, holders: plan.holders.filter((h) => h.worker === w.slot) });
    }
    await Promise.all(
      plan.faults.map(async (f) => {
        await sleep(t0 + f.atMs - nowMs());
        await inject(f, context);
      }),
    );
    await sleep(t0 + faultsEndMs(plan) - nowMs());
    proxy.thaw();
    proxy.releaseReplies();
    proxy.delayReplies(0);
    await admin.call('CLIENT', 'UNPAUSE').catch(() => undefined);
    const liftedAt = nowMs();
    log('faults lifted');

    // ---- every subscription ends
    const alive = (slot: number): boolean => !killed.some((k) => k.worker === slot);
    const expected = plan.holders.filter((h) => alive(h.worker));
    const boundMs = 4_000 + plan.holders.reduce((sum, h) => sum + h.holdMs + 300, 0);
    const endBy = Math.max(liftedAt, t0 + Math.max(0, ...plan.holders.map((h) => h.startMs))) + boundMs;
    const isDone = (id: number, slot: number): boolean =>
      records.some((r) => r.worker === slot && r.events.some((e) => e.id === id && e.ev === 'done'));
    for (;;) {
      for (const [i, w] of workers.entries()) {
        const record = records[i] as WorkerRecord;
        if (!record.hung && alive(w.slot) && nowMs() - w.lastHeard > HUNG_AFTER_MS) {
          record.hung = true;
          log(`w${w.slot} HUNG: no heartbeat for ${HUNG_AFTER_MS} ms`);
        }
      }
      const waiting = expected.filter((h) => !isDone(h.id, h.worker) && !records.some((r) => r.worker === h.worker && r.hung));
      if (waiting.length === 0 || nowMs() > endBy) break;
      await sleep(25);
    }
    const allEndedAt = nowMs();
    log('waiting over');

    // ---- nothing left in Redis once the leases (and writers' marks) have run out
    const names = plan.names.map((n) => stateKey(PREFIX, n));
    let leftover: string[] = [];
    const keysBy = nowMs() + 3_000;
    for (;;) {
      leftover = [];
      for (const key of names) if ((await admin.exists(key)) === 1) leftover.push(`${key} ${JSON.stringify(await admin.hgetall(key))} pttl ${await admin.pttl(key)}`);
      if (leftover.length === 0 || nowMs() > keysBy) break;
      await sleep(50);
    }

    // ---- each worker lets go of everything
    const live = workers.filter((w, i) => alive(w.slot) && !(records[i] as WorkerRecord).hung);
    for (const w of live) w.send({ op: 'quiesce', run, withinMs: 5_000 });
    const quietBy = nowMs() + 8_000;
    while (nowMs() < quietBy && live.some((w) => records[workers.indexOf(w)]?.quiet === undefined)) await sleep(25);
    const channels = (await admin.call('PUBSUB', 'CHANNELS', '*')) as string[];

    for (const [i, w] of workers.entries()) {
      const record = records[i] as WorkerRecord;
      record.beats = w.beats;
      record.cpu = w.cpu;
      w.sink = undefined;
    }
    const record: RunRecord = { plan, t0, liftedAt, allEndedAt, killed, workers: records, leftover, channels };
    const { violations, stats, notes } = checkRun(record);
    const finishedAt = nowMs();
    stats.setupMs = t0 - 200 - startedAt;
    stats.scheduleMs = liftedAt - t0;
    stats.tailMs = allEndedAt - liftedAt;
    stats.cleanupMs = finishedAt - allEndedAt;
    const report = (): string => [
      `run ${run}: ${violations.length} violation(s)`,
      ...violations.map((v) => `  - ${v}`),
      ...(notes.length > 0 ? ['notes:', ...notes.map((n) => `  - ${n}`)] : []),
      'plan:',
      describePlan(plan),
      'log (ms from t0):',
      ...lines,
      ...records.filter((r) => r.hung || r.unhandled.length > 0).map((r) => `stderr of w${r.worker}:\n${workers.find((w) => w.slot === r.worker)?.stderr() ?? ''}`),
    ].join('\n');
    if (process.env.SCHEDULE_VERBOSE) {
      const times = ['setupMs', 'scheduleMs', 'tailMs', 'cleanupMs'].map((k) => `${k.replace('Ms', '')} ${Math.round(stats[k] ?? 0)}`).join(', ');
      console.log(`[schedule run ${run}] ${violations.length} violation(s); ${plan.holders.length} holders, ${plan.faults.length} faults; ${times} ms`);
      if (process.env.SCHEDULE_VERBOSE === '2' || violations.length > 0) console.log(report());
    }
    if (violations.length > 0) {
      const file = path.join(tmpdir(), `yadl-schedule-run-${process.pid}-${run}.log`);
      writeFileSync(file, report());
      pool.replaceAll();
      return { violations, stats, report: `${report()}\n(also written to ${file})` };
    }
    return { violations, stats, report: '' };
  } finally {
    admin.disconnect();
    busy.disconnect();
    await proxy.close();
    await server.stop();
  }
}

function eventText(e: FromWorker & { type: 'event' }): string {
  switch (e.ev) {
    case 'granted':
      return `granted ${e.mode} fence ${e.fence}`;
    case 'belief-end':
      return `belief ends (${e.why}${e.reason === undefined ? '' : `: ${e.reason}`})`;
    case 'error':
      return `${e.where} error ${e.message}${e.lockError ? '' : ' [NOT a LockError]'}${e.ours ? ' [our abort]' : ''}`;
    case 'timed-out':
      return 'acquire resolved false (timeout)';
    case 'cancel':
      return `cancelled ${e.held ? 'while holding' : 'while waiting'}`;
    case 'start':
      return 'subscribes';
    case 'done':
      return 'done';
  }
}
