import type { ContenderSpec } from '../contenders';
import type { WorkerPool } from '../support/pool';
import type { BenchCluster } from '../support/cluster';
import type { Admin } from '../support/redis-admin';

/** What a task running in a worker process can do besides its work. */
export interface TaskContext {
  /** Mail to a logical worker id, or to the orchestrator (PARENT). */
  send(to: number, topic: string, data?: unknown): void;
  /** The next mail for logical worker `id` (or PARENT) on `topic`; rejects after `timeoutMs`. */
  receive<T = unknown>(id: number, topic: string, timeoutMs?: number): Promise<T>;
}

export type Task = (args: unknown, context: TaskContext) => Promise<unknown>;

/** Lets a scenario write its tasks with typed arguments. */
export function task<A>(run: (args: A, context: TaskContext) => Promise<unknown>): Task {
  return (args, context) => run(args as A, context);
}

/** One repetition's measurements; null where there was nothing to measure. */
export type Metrics = Record<string, number | null>;

export type Unit = 'ms' | 'µs' | 'ops/s' | 'locks/s' | 'acq/s' | 'cmd' | 'cmd/s' | 'B' | 'count' | '%' | 'conn' | '×';

export interface MetricDef {
  readonly key: string;
  readonly label: string;
  readonly unit: Unit;
  /** Which way is better, for ratios and charts; absent: informational. */
  readonly better?: 'lower' | 'higher';
}

/** Durations and sizes, by mode. */
export interface Timing {
  readonly reps: number;
  readonly uncontendedMs: number;
  readonly contendedMs: number;
  readonly pingPongMs: number;
  readonly idleSettleMs: number;
  readonly idleWindowMs: number;
  readonly idleWaiters: number;
  readonly expiryNames: number;
  readonly expiryLeaseMs: number;
  readonly manyNames: number;
  readonly manyNamesMs: number;
  readonly readersWritersMs: number;
  readonly scaleWaiters: number;
  readonly scaleNames: number;
  readonly scaleSettleMs: number;
  /** Scenario 8: names in all, shared out between its processes. */
  readonly clusterNames: number;
  /** Scenario 8: timed run on each deployment (1 server, then the cluster, or the other way round). */
  readonly clusterMs: number;
  /** Scenario 9: names whose fair line loses its head, per run. */
  readonly deadHeadNames: number;
  /** Scenario 9: yadl fair mode's handoffGrace for every acquisition. */
  readonly handoffGraceMs: number;
}

export const FULL_TIMING: Timing = {
  reps: 3,
  uncontendedMs: 1500,
  contendedMs: 2000,
  pingPongMs: 2000,
  /** Longer than yadl's 500 ms subscription linger, so that warm-up leftovers are over. */
  idleSettleMs: 1000,
  idleWindowMs: 1500,
  idleWaiters: 50,
  expiryNames: 5,
  expiryLeaseMs: 1000,
  manyNames: 1000,
  manyNamesMs: 1500,
  readersWritersMs: 2000,
  scaleWaiters: 10_000,
  scaleNames: 5,
  scaleSettleMs: 500,
  clusterNames: 1000,
  clusterMs: 2000,
  deadHeadNames: 5,
  handoffGraceMs: 500,
};

export const QUICK_TIMING: Timing = {
  ...FULL_TIMING,
  reps: 1,
  uncontendedMs: 1000,
  contendedMs: 1000,
  pingPongMs: 1000,
  idleWindowMs: 700,
  expiryNames: 3,
  manyNamesMs: 1000,
  readersWritersMs: 1000,
  clusterMs: 1000,
  deadHeadNames: 3,
};

export interface ScenarioContext {
  readonly url: string;
  readonly admin: Admin;
  readonly pool: WorkerPool;
  readonly timing: Timing;
  /** The Redis Cluster the harness started for a scenario with `cluster: true`. */
  readonly cluster?: Omit<BenchCluster, 'stop'>;
  /** A key prefix no other run uses. */
  namespace(contender: ContenderSpec, rep: number): string;
  /** A line of progress for the current run. */
  progress(detail: string): void;
  /** Extra facts about this repetition for results.json (e.g. commands by name). */
  detail(key: string, value: unknown): void;
}

export interface Scenario {
  readonly id: string;
  readonly title: string;
  /** What is measured and how, for the report. */
  readonly description: string;
  readonly contenders: readonly string[];
  /** How many pool workers it uses (they are spawned together before the first run). */
  readonly processes: number;
  readonly metrics: readonly MetricDef[];
  /** The metric that ratios and the chart use. */
  readonly headline: string;
  /** Draw the headline on a log scale (pollers are 100x slower). */
  readonly logChart?: boolean;
  /** Chart these metrics (one unit), a bar per contender and metric, instead of the headline. */
  readonly chart?: readonly string[];
  /**
   * Also needs a Redis Cluster (3 primaries + 3 replicas on loopback): the
   * harness starts one before the scenario's first run and stops it after its
   * last, and passes it as `context.cluster`.
   */
  readonly cluster?: boolean;
  /** A reason to skip the whole scenario, or null to run it. */
  unavailable?(): Promise<string | null>;
  run(context: ScenarioContext, contender: ContenderSpec, rep: number): Promise<Metrics>;
}
