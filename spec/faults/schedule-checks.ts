/**
 * The invariants of spec/faults/schedule.model.spec.ts, checked on the
 * records of one run (every time on CLOCK_MONOTONIC, which all processes on
 * the machine share):
 *
 * - No two holders: a write (exclusive) hold's believed interval — from the
 *   grant reaching the holder to its own release, or its lease's signal
 *   aborting, or its process being SIGKILLed — overlaps no other hold of the
 *   name. A holder is only excused when its process was not running at all
 *   meanwhile (no heartbeat in the overlap: a paused process, which the
 *   README's failure model allows); a heartbeat there, or on-time beats
 *   around it, means its event loop ran while it wrongly believed it held.
 * - Fences: distinct per name, and increasing in grant order: a hold that
 *   ended before another began (one of them a write) has the lower fence.
 * - Every subscription ends within the bound the runner waits (emitted then
 *   released, or an error); errors are yadl LockErrors (or the schedule's own
 *   abort reason), never raw ioredis errors; a lost hold's signal aborts
 *   before the error arrives.
 * - Timeouts and aborts end a wait on time: within SCHEDULE_LATE_MS (default
 *   300) of the timeout passing or the abort, beyond what the process itself
 *   was stalled.
 * - No spin: heartbeats every 20 ms; a gap over SCHEDULE_MAX_GAP_MS (default
 *   250 ms, not the 100 ms one would use on an idle machine: this 2-core
 *   machine is shared and loaded) fails when the process was on the CPU for
 *   at least half of it (its own work blocked the event loop). Longer gaps
 *   with the process mostly off the CPU are the machine's and only noted.
 * - No unhandled rejection or uncaught exception in any worker.
 * - Afterwards: no lock state key left in Redis, no channel subscribed,
 *   and every surviving worker back to zero in yadl's diagnostics with no
 *   timer left.
 */
import type { FromWorker, RunPlan } from './schedule-plan';

export type EventMessage = FromWorker & { type: 'event' };
export type UnhandledMessage = FromWorker & { type: 'unhandled' };
export type QuietMessage = FromWorker & { type: 'quiet' };

export interface WorkerRecord {
  readonly worker: number;
  readonly pid: number;
  readonly events: EventMessage[];
  beats: number[];
  cpu: number[];
  readonly unhandled: UnhandledMessage[];
  quiet: QuietMessage | undefined;
  hung: boolean;
}

export interface RunRecord {
  readonly plan: RunPlan;
  readonly t0: number;
  readonly liftedAt: number;
  readonly allEndedAt: number;
  readonly killed: readonly { worker: number; at: number }[];
  readonly workers: readonly WorkerRecord[];
  /** Lock state keys still in Redis after waiting for every lease to run out. */
  readonly leftover: readonly string[];
  /** Channels still subscribed on the server at the end. */
  readonly channels: readonly string[];
}

const env = process.env;
export const MAX_GAP_MS = Number(env.SCHEDULE_MAX_GAP_MS ?? 250);
export const LATE_MS = Number(env.SCHEDULE_LATE_MS ?? 300);

interface Hold {
  readonly worker: number;
  readonly id: number;
  readonly name: string;
  readonly mode: 'write' | 'read';
  readonly fence: number;
  readonly start: number;
  readonly end: number;
  readonly how: string;
}

const fmt = (ms: number): string => ms.toFixed(1);

/**
 * Kinds of violation. SCHEDULE_IGNORE=<kind>,<kind> reports those as notes
 * instead (to look past a known defect while exploring).
 */
export type ViolationKind =
  | 'two-holders'
  | 'fence'
  | 'raw-error'
  | 'signal-order'
  | 'late'
  | 'never-ended'
  | 'hung'
  | 'spin'
  | 'unhandled'
  | 'leak'
  | 'leftover';
const IGNORED = new Set((env.SCHEDULE_IGNORE ?? '').split(',').filter(Boolean));

export function checkRun(r: RunRecord): { violations: string[]; stats: Record<string, number>; notes: string[] } {
  const violations: string[] = [];
  const notes: string[] = [];
  const violate = (kind: ViolationKind, text: string): void => {
    if (IGNORED.has(kind)) notes.push(`(ignored ${kind}) ${text}`);
    else violations.push(`[${kind}] ${text}`);
  };
  const rel = (t: number): string => `${fmt(t - r.t0)} ms`;
  const planOf = new Map(r.plan.holders.map((h) => [h.id, h]));
  const killedAt = (worker: number): number | undefined => r.killed.find((k) => k.worker === worker)?.at;
  const recordOf = new Map(r.workers.map((w) => [w.worker, w]));
  const stats: Record<string, number> = {
    runs: 1,
    holders: r.plan.holders.length,
    faults: r.plan.faults.length,
    grants: 0,
    lost: 0,
    timeouts: 0,
    cancels: 0,
    errors: 0,
    pausedOverlaps: 0,
    machineStalls: 0,
  };

  /**
   * Whether `worker`'s event loop was stalled throughout (from, to): no
   * heartbeat inside, and the beats around it further apart than the 20 ms
   * cadence allows (so a short overlap between two on-time beats is not excused).
   */
  const stalledThroughout = (worker: number, from: number, to: number): boolean => {
    const beats = recordOf.get(worker)?.beats ?? [];
    if (beats.some((t) => t > from && t < to)) return false;
    const before = beats.filter((t) => t <= from).at(-1);
    const after = beats.find((t) => t >= to);
    return before === undefined || after === undefined || after - before > 35;
  };
  /** The longest heartbeat gap of `worker` overlapping [from, to]. */
  const longestGap = (worker: number, from: number, to: number): number => {
    const beats = recordOf.get(worker)?.beats ?? [];
    let longest = 0;
    for (let i = 1; i < beats.length; i++) {
      const a = beats[i - 1] as number;
      const b = beats[i] as number;
      if (b >= from && a <= to) longest = Math.max(longest, Math.min(b, to) - Math.max(a, from));
    }
    return longest;
  };

  // ---- holds, as each holder believed them
  const holds: Hold[] = [];
  for (const w of r.workers) {
    const byId = new Map<number, EventMessage[]>();
    for (const e of w.events) byId.set(e.id, [...(byId.get(e.id) ?? []), e]);
    for (const [id, events] of byId) {
      const h = planOf.get(id);
      if (h === undefined) continue;
      const granted = events.find((e) => e.ev === 'granted');
      const beliefEnd = events.find((e) => e.ev === 'belief-end');
      const start = events.find((e) => e.ev === 'start')?.t;
      if (granted !== undefined && granted.ev === 'granted') {
        stats.grants = (stats.grants ?? 0) + 1;
        const killed = killedAt(w.worker);
        const end = beliefEnd?.t ?? killed ?? r.allEndedAt;
        const how = beliefEnd?.ev === 'belief-end' ? `${beliefEnd.why}${beliefEnd.reason === undefined ? '' : ` (${beliefEnd.reason})`}` : killed !== undefined ? 'SIGKILL' : 'never ended';
        holds.push({ worker: w.worker, id, name: h.name, mode: granted.mode, fence: granted.fence, start: granted.t, end, how });
      }
      if (beliefEnd?.ev === 'belief-end' && beliefEnd.reason?.startsWith('error before the signal aborted')) {
        violate('signal-order', `#${id} (w${w.worker}): the error came while it still believed it held, its signal not aborted: ${beliefEnd.reason}`);
      }
      if (beliefEnd?.ev === 'belief-end' && beliefEnd.why === 'signal' && beliefEnd.reason?.includes('LockLostError')) stats.lost = (stats.lost ?? 0) + 1;
      for (const e of events) {
        if (e.ev === 'cancel') stats.cancels = (stats.cancels ?? 0) + 1;
        if (e.ev === 'timed-out' || (e.ev === 'error' && e.name === 'LockTimeoutError')) stats.timeouts = (stats.timeouts ?? 0) + 1;
        if (e.ev === 'error' && !e.ours) stats.errors = (stats.errors ?? 0) + 1;
        if (e.ev === 'error' && !e.lockError && !e.ours) {
          violate('raw-error', `#${id} (w${w.worker}): ${e.where === 'lock' ? 'the subscription errored' : 'release rejected'} with a raw error, not a yadl LockError: ${e.message}`);
        }
      }
      // ---- timeouts and aborts end the wait on time
      if (start !== undefined && granted === undefined) {
        const ended = events.find((e) => e.ev === 'error' || e.ev === 'timed-out');
        const cancel = events.find((e) => e.ev === 'cancel');
        const due =
          cancel !== undefined && h.cancel?.how === 'abort' ? { at: cancel.t, what: 'the abort' } : h.timeout > 0 && cancel === undefined ? { at: start + h.timeout, what: `its timeout (${h.timeout} ms)` } : undefined;
        if (due !== undefined && ended !== undefined && ended.t > due.at) {
          const late = ended.t - due.at - longestGap(w.worker, due.at, ended.t);
          if (late > LATE_MS) {
            const what = ended.ev === 'error' ? ended.message : 'acquire resolved false';
            violate('late', `#${id} (w${w.worker}, ${h.via} ${h.mode}): ended ${fmt(ended.t - due.at)} ms after ${due.what} (at ${rel(due.at)}), more than ${LATE_MS} ms late: ${what}`);
          }
        }
      }
      if (start !== undefined && granted !== undefined && h.timeout > 0 && granted.t > start + h.timeout + LATE_MS + longestGap(w.worker, start + h.timeout, granted.t)) {
        violate('late', `#${id} (w${w.worker}): granted ${fmt(granted.t - start - h.timeout)} ms after its timeout (${h.timeout} ms) had passed`);
      }
    }
  }

  // ---- no two holders; fences in grant order
  for (const name of r.plan.names) {
    const ofName = holds.filter((h) => h.name === name).sort((a, b) => a.start - b.start);
    const fences = new Map<number, Hold>();
    for (const h of ofName) {
      const other = fences.get(h.fence);
      if (other !== undefined) violate('fence', `'${name}': #${other.id} and #${h.id} were both granted fence ${h.fence}`);
      fences.set(h.fence, h);
    }
    for (let i = 0; i < ofName.length; i++) {
      for (let j = i + 1; j < ofName.length; j++) {
        const a = ofName[i] as Hold;
        const b = ofName[j] as Hold;
        if (a.mode === 'read' && b.mode === 'read') continue;
        const describe = (h: Hold): string => `#${h.id} (w${h.worker}, ${h.mode}, fence ${h.fence}, believed ${rel(h.start)} to ${rel(h.end)}, ended by ${h.how})`;
        if (Math.max(a.start, b.start) < Math.min(a.end, b.end)) {
          // The one granted first by Redis (lower fence) should have stopped believing before the other was granted.
          const [stale, later] = a.fence < b.fence ? [a, b] : [b, a];
          const overlap = Math.min(a.end, b.end) - Math.max(a.start, b.start);
          if (!stalledThroughout(stale.worker, later.start, stale.end)) {
            violate('two-holders', `'${name}': two holders for ${fmt(overlap)} ms: ${describe(stale)} still believed it held when ${describe(later)} was granted (its event loop was running meanwhile)`);
          } else {
            stats.pausedOverlaps = (stats.pausedOverlaps ?? 0) + 1;
            notes.push(`'${name}': ${describe(stale)} overlapped ${describe(later)} by ${fmt(overlap)} ms while its process did not run (no heartbeat): a paused holder`);
          }
        } else if (a.end <= b.start && a.fence >= b.fence) {
          violate('fence', `'${name}': fences out of grant order: ${describe(a)} ended before ${describe(b)} began, yet has the higher fence`);
        }
      }
    }
  }

  // ---- every subscription ends
  for (const h of r.plan.holders) {
    const w = recordOf.get(h.worker);
    if (w === undefined || killedAt(h.worker) !== undefined || w.hung) continue;
    const events = w.events.filter((e) => e.id === h.id);
    if (!events.some((e) => e.ev === 'done')) {
      const last = events.map((e) => `${e.ev}@${rel(e.t)}`).join(', ');
      violate('never-ended', `#${h.id} (w${h.worker}, ${h.via} ${h.mode} '${h.name}'): never ended, ${fmt(r.allEndedAt - r.liftedAt)} ms after the faults were lifted (events: ${last || 'none'})`);
    }
  }

  // ---- no spin, no hang, nothing unhandled, nothing left
  for (const w of r.workers) {
    if (w.hung) violate('hung', `w${w.worker} (pid ${w.pid}) hung: no heartbeat for seconds (a loop that never yields, or a crash)`);
    for (const u of w.unhandled) violate('unhandled', `w${w.worker}: unhandled ${u.kind} at ${rel(u.t)}: ${u.message}`);
    const end = killedAt(w.worker) ?? r.allEndedAt;
    for (let i = 1; i < w.beats.length; i++) {
      const a = w.beats[i - 1] as number;
      const b = w.beats[i] as number;
      if (b < r.t0 - 100 || a > end) continue;
      const gap = b - a;
      if (gap <= MAX_GAP_MS) continue;
      const cpu = (w.cpu[i] ?? 0) - (w.cpu[i - 1] ?? 0);
      if (cpu >= gap / 2) {
        violate('spin', `w${w.worker}: event loop blocked ${fmt(gap)} ms from ${rel(a)} while on the CPU ${fmt(cpu)} ms of it (spinning)`);
      } else {
        stats.machineStalls = (stats.machineStalls ?? 0) + 1;
        notes.push(`w${w.worker}: heartbeat gap ${fmt(gap)} ms from ${rel(a)}, on the CPU only ${fmt(cpu)} ms of it (the machine, not the process)`);
      }
    }
    if (killedAt(w.worker) !== undefined || w.hung) continue;
    if (w.quiet === undefined) violate('leak', `w${w.worker}: did not answer the diagnostics request`);
    else if (!w.quiet.quiet) violate('leak', `w${w.worker}: yadl did not let go: diagnostics ${JSON.stringify(w.quiet.diagnostics)}, ${w.quiet.timers} timer(s) besides the heartbeat`);
  }
  for (const key of r.leftover) violate('leftover', `lock state left in Redis after every lease ran out: ${key}`);
  if (r.channels.length > 0 && !r.workers.some((w) => w.hung)) violate('leak', `channels still subscribed at the end: ${r.channels.join(', ')}`);
  return { violations, stats, notes };
}
