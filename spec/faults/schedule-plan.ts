/**
 * The randomized schedules of spec/faults/schedule.model.spec.ts: what is
 * generated (holders in worker processes, faults injected by the test), the
 * messages between the test and its workers
 * (spec/support/fault-workers/schedule-holder.ts), and the fast-check
 * arbitraries. Times are milliseconds from the run's start, `t0`, on
 * CLOCK_MONOTONIC (`process.hrtime`), which every process on the machine shares.
 */
import fc from 'fast-check';

export type Mode = 'exclusive' | 'write' | 'read';

/** How a holder gives up early: unsubscribe (the facade: release or abort its wait) or abort the signal. */
export interface Cancel {
  readonly how: 'unsubscribe' | 'abort';
  /**
   * After this many microtasks from subscribing (so while the first attempt
   * is in flight), or ms; or this many microtasks after another holder of
   * the same process is granted (as RxJS `race` cancels the losers), which
   * lands in the turn where the replies to attempts sent together arrive.
   */
  readonly after: { readonly microtasks: number } | { readonly ms: number } | { readonly grantPlusMicrotasks: number };
}

/** One `lock$` subscription or facade acquire, in one worker. */
export interface HolderPlan {
  readonly id: number;
  readonly worker: number;
  readonly name: string;
  readonly via: 'lock$' | 'facade';
  readonly mode: Mode;
  /** A fixed hold; else `lease` (renewed). */
  readonly ttl?: number;
  readonly lease?: number;
  /** -1 waits forever, 0 one attempt. */
  readonly timeout: number;
  readonly redisTimeout: number;
  readonly startMs: number;
  /** Held this long after the grant, then released (unless it is lost or cancelled first). */
  readonly holdMs: number;
  readonly cancel?: Cancel;
}

/** Which proxied connection(s): an index into the proxy's live connections (modulo their number), or all. */
export type Target = number | 'all';

export type FaultPlan =
  | { readonly kind: 'delay'; readonly atMs: number; readonly target: Target; readonly ms: number; readonly forMs: number }
  | { readonly kind: 'hold'; readonly atMs: number; readonly target: Target; readonly forMs: number }
  /** Drops the next replies of one connection, then cuts it: replies lost with the connection. */
  | { readonly kind: 'drop'; readonly atMs: number; readonly target: number; readonly count: number; readonly cutAfterMs: number }
  | { readonly kind: 'cut'; readonly atMs: number; readonly target: Target }
  | { readonly kind: 'freeze'; readonly atMs: number; readonly forMs: number }
  /** CLIENT PAUSE from an admin client. */
  | { readonly kind: 'pause'; readonly atMs: number; readonly ms: number; readonly write: boolean }
  /** CLIENT KILL of the workers' data ('normal') or subscriber ('pubsub') connections: one (an index) or all. */
  | { readonly kind: 'kill'; readonly atMs: number; readonly type: 'normal' | 'pubsub'; readonly target: Target }
  /** A Lua script that keeps Redis busy for `ms` (busy-reply-threshold is 50 ms: others get BUSY). */
  | { readonly kind: 'busy'; readonly atMs: number; readonly ms: number }
  /** SIGKILL of a worker process, holds and all. */
  | { readonly kind: 'sigkill'; readonly atMs: number; readonly worker: number };

export interface RunPlan {
  /** Worker processes taking part (2 or 3). */
  readonly workers: number;
  readonly names: readonly string[];
  /** false: the server runs with CONFIG renamed away, so no keyspace events (expiries) reach waiters. */
  readonly config: boolean;
  readonly holders: readonly HolderPlan[];
  readonly faults: readonly FaultPlan[];
}

// ------------------------------------------------------------- messages

/** Test -> worker. */
export type ToWorker =
  | { readonly op: 'run'; readonly run: number; readonly url: string; readonly prefix: string; readonly t0: number; readonly holders: readonly HolderPlan[] }
  /** Reports diagnostics once back to zero (or after withinMs). */
  | { readonly op: 'quiesce'; readonly run: number; readonly withinMs: number };

export type HolderEvent =
  /** It subscribes (lock$) or calls acquire (facade). */
  | { readonly ev: 'start' }
  /** The lease arrived (lock$) or acquire resolved true (facade); `t` starts the believed hold. */
  | { readonly ev: 'granted'; readonly fence: number; readonly mode: 'write' | 'read' }
  /** The believed hold ended: released by the worker, cancelled, or the lease's signal aborted. */
  | { readonly ev: 'belief-end'; readonly why: 'release' | 'cancel' | 'signal'; readonly reason?: string }
  /** The subscription errored, or acquire / release rejected (`where`). */
  | { readonly ev: 'error'; readonly where: 'lock' | 'release'; readonly name: string; readonly message: string; readonly lockError: boolean; readonly ours: boolean }
  /** The facade's acquire resolved false (its timeout). */
  | { readonly ev: 'timed-out' }
  /** The worker cancelled it (unsubscribe or abort). */
  | { readonly ev: 'cancel'; readonly held: boolean }
  /** Nothing more will happen to it: held and released, failed, timed out or cancelled. */
  | { readonly ev: 'done' };

/** Worker -> test. */
export type FromWorker =
  | { readonly type: 'ready'; readonly pid: number }
  /** Heartbeats: CLOCK_MONOTONIC ms and the process' CPU ms (user + system) at each. */
  | { readonly type: 'hb'; readonly times: readonly number[]; readonly cpu: readonly number[] }
  | ({ readonly type: 'event'; readonly run: number; readonly id: number; readonly t: number } & HolderEvent)
  | { readonly type: 'unhandled'; readonly kind: 'rejection' | 'exception'; readonly message: string; readonly t: number }
  | {
      readonly type: 'quiet';
      readonly run: number;
      readonly quiet: boolean;
      readonly diagnostics: Record<string, number>;
      /** Active ref'd timers other than the worker's own heartbeat. */
      readonly timers: number;
    };

// ------------------------------------------------------------- arbitraries

const NAMES = ['a', 'b'] as const;
/** How long a schedule lasts: holders start and faults strike within it. */
export const SCHEDULE_MS = 1_500;

/** Mostly a few microtasks: the windows between an attempt's reply and what follows it are that narrow. */
const microtasks = fc.oneof({ arbitrary: fc.nat({ max: 3 }), weight: 3 }, { arbitrary: fc.nat({ max: 40 }), weight: 1 });

const cancelArb: fc.Arbitrary<Cancel> = fc.record({
  how: fc.constantFrom<Cancel['how']>('unsubscribe', 'abort'),
  after: fc.oneof(
    { arbitrary: fc.record({ microtasks }), weight: 1 },
    { arbitrary: fc.record({ ms: fc.nat({ max: 400 }) }), weight: 1 },
    { arbitrary: fc.record({ grantPlusMicrotasks: microtasks }), weight: 2 },
  ),
});

/** A holder before it is given an id and its worker and name are taken modulo the run's. */
const holderArb = fc.record({
    worker: fc.nat({ max: 2 }),
    name: fc.nat({ max: 1 }),
    via: fc.constantFrom<HolderPlan['via']>('lock$', 'lock$', 'facade'),
    mode: fc.constantFrom<Mode>('exclusive', 'write', 'read', 'read'),
    hold: fc.oneof(fc.record({ lease: fc.integer({ min: 300, max: 600 }) }), fc.record({ ttl: fc.integer({ min: 200, max: 600 }) })),
    timeout: fc.oneof(
      { arbitrary: fc.constant(-1), weight: 3 },
      { arbitrary: fc.constant(0), weight: 1 },
      { arbitrary: fc.integer({ min: 30, max: 1_500 }), weight: 2 },
    ),
    redisTimeout: fc.constantFrom(1_500, 1_000),
    // Often at one of a few moments, so that attempts go out (and replies come back) together.
    startMs: fc.oneof({ arbitrary: fc.nat({ max: SCHEDULE_MS }), weight: 1 }, { arbitrary: fc.constantFrom(100, 700, 1_200), weight: 2 }),
    holdMs: fc.nat({ max: 700 }),
    cancel: fc.option(cancelArb, { freq: 2, nil: undefined }),
});

const at = fc.nat({ max: SCHEDULE_MS });
const target: fc.Arbitrary<Target> = fc.oneof(fc.nat({ max: 7 }), fc.constant<Target>('all'));

const faultArb: fc.Arbitrary<FaultPlan> = fc.oneof(
  fc.record({ kind: fc.constant('delay' as const), atMs: at, target, ms: fc.integer({ min: 20, max: 400 }), forMs: fc.integer({ min: 50, max: 800 }) }),
  fc.record({ kind: fc.constant('hold' as const), atMs: at, target, forMs: fc.integer({ min: 50, max: 800 }) }),
  fc.record({ kind: fc.constant('drop' as const), atMs: at, target: fc.nat({ max: 7 }), count: fc.integer({ min: 1, max: 2 }), cutAfterMs: fc.integer({ min: 0, max: 200 }) }),
  fc.record({ kind: fc.constant('cut' as const), atMs: at, target }),
  fc.record({ kind: fc.constant('freeze' as const), atMs: at, forMs: fc.integer({ min: 50, max: 600 }) }),
  fc.record({ kind: fc.constant('pause' as const), atMs: at, ms: fc.integer({ min: 50, max: 400 }), write: fc.boolean() }),
  fc.record({ kind: fc.constant('kill' as const), atMs: at, type: fc.constantFrom<'normal' | 'pubsub'>('normal', 'pubsub'), target }),
  fc.record({ kind: fc.constant('busy' as const), atMs: at, ms: fc.integer({ min: 60, max: 400 }) }),
);

const sigkillArb = fc.record({ kind: fc.constant('sigkill' as const), atMs: at, worker: fc.nat({ max: 2 }) });

export const runPlanArb: fc.Arbitrary<RunPlan> = fc
  .record({
    workers: fc.integer({ min: 2, max: 3 }),
    names: fc.constantFrom(1, 1, 2),
    config: fc.oneof({ arbitrary: fc.constant(true), weight: 3 }, { arbitrary: fc.constant(false), weight: 1 }),
    holders: fc.array(holderArb, { minLength: 2, maxLength: 8 }),
    faults: fc.array(faultArb, { maxLength: 5 }),
    // One run in four kills a worker.
    sigkill: fc.oneof({ arbitrary: fc.constant(undefined), weight: 3 }, { arbitrary: sigkillArb, weight: 1 }),
  })
  .map(({ workers, names, config, holders, faults, sigkill }) => ({
    workers,
    names: NAMES.slice(0, names),
    config,
    holders: holders.map(({ hold, worker, name, cancel, ...rest }, id) => ({
      id,
      worker: worker % workers,
      name: NAMES[name % names] as string,
      ...rest,
      ...hold,
      ...(cancel === undefined ? {} : { cancel }),
    })),
    faults: [...faults, ...(sigkill === undefined ? [] : [{ ...sigkill, worker: sigkill.worker % workers }])].sort((x, y) => x.atMs - y.atMs),
  }));

/** When the last fault of the plan is over (ms from t0). */
export function faultsEndMs(plan: RunPlan): number {
  let end = 0;
  for (const f of plan.faults) {
    const length = 'forMs' in f ? f.forMs : f.kind === 'pause' || f.kind === 'busy' ? f.ms : f.kind === 'drop' ? f.cutAfterMs : 0;
    end = Math.max(end, f.atMs + length);
  }
  return end;
}

/** One line per holder and fault, for reading a counterexample. */
export function describePlan(plan: RunPlan): string {
  const lines = [`${plan.workers} workers, names ${plan.names.join(',')}, CONFIG ${plan.config ? 'on' : 'off (no keyspace events)'}`];
  for (const h of plan.holders) {
    const hold = h.ttl !== undefined ? `ttl ${h.ttl}` : `lease ${h.lease}`;
    const after = h.cancel?.after;
    const when =
      after === undefined ? '' : 'ms' in after ? `${after.ms} ms` : 'microtasks' in after ? `${after.microtasks} microtasks` : `${after.grantPlusMicrotasks} microtasks after another grant in its process`;
    const cancel = h.cancel === undefined ? '' : `, cancel by ${h.cancel.how} after ${when}`;
    lines.push(
      `  #${h.id} w${h.worker} ${h.via} ${h.mode} '${h.name}' at ${h.startMs} ms, ${hold}, timeout ${h.timeout}, redisTimeout ${h.redisTimeout}, hold ${h.holdMs} ms${cancel}`,
    );
  }
  for (const f of plan.faults) lines.push(`  fault ${JSON.stringify(f)}`);
  return lines.join('\n');
}
