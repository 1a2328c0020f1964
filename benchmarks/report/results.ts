import type { Family } from '../contenders/types';
import type { Metrics, MetricDef, Timing } from '../scenarios/types';

export interface ContenderResult {
  id: string;
  label: string;
  family: Family;
  /** A peer's aggressive-retry row. */
  aggressive: boolean;
  settings: string;
  /** One entry per repetition; an error message where the run failed. */
  reps: (Metrics | { error: string })[];
  /** Per repetition, what the scenario noted besides its metrics. */
  details: Record<string, unknown>[];
  /** Median over the repetitions that succeeded, per metric. */
  median: Metrics;
}

export interface ScenarioResult {
  id: string;
  title: string;
  description: string;
  metrics: readonly MetricDef[];
  headline: string;
  logChart: boolean;
  /** Metrics charted instead of the headline (one bar per contender and metric). */
  chart?: string[];
  /** The Redis Cluster the scenario also ran against. */
  cluster?: string;
  /** Why the scenario did not run. */
  skipped?: string;
  contenders: ContenderResult[];
}

export interface TargetResult {
  /** The wording. */
  target: string;
  scenario: string;
  contender: string;
  /** The measured quantity (a ratio for relative targets). */
  value: number | null;
  unit: string;
  comparison: '<=' | '>=' | '<';
  limit: number;
  /** null: not measured in this run. */
  pass: boolean | null;
  /** By how much it passed or missed. */
  margin: string;
  /** What the value was computed from. */
  detail: string;
}

export interface Machine {
  cpu: string;
  cores: number;
  memoryGiB: number;
  os: string;
  /** 1/5/15-minute load averages when the run started and ended: other work on the machine skews everything. */
  loadAverage: { start: number[]; end: number[] };
  node: string;
  redis: string;
  redisHz: string;
  redisSource: string;
  notifyKeyspaceEvents: string;
  packages: Record<string, string>;
  yadlCommit: string;
}

export interface ClockCheck {
  /** Largest |offset| between the orchestrator's shared clock and a worker's, ms. */
  maxOffsetMs: number;
  /** Round trip of the probe that estimated it, ms (the offset's uncertainty is half of it). */
  rttMs: number;
}

/** One metric of one of yadl's default-mode rows, against the previous run. */
export interface ComparisonRow {
  scenario: string;
  contender: string;
  metric: string;
  label: string;
  unit: string;
  better: 'lower' | 'higher';
  before: number | null;
  after: number | null;
  /** The contender both were divided by (the same in both runs), or null when it was not measured in both. */
  reference: string | null;
  relBefore: number | null;
  relAfter: number | null;
  /** How much worse, reference-relative where possible (0.2: 20% worse; negative: better). */
  worse: number | null;
  verdict: 'slower' | 'same' | 'faster' | 'n/a';
}

/** yadl's default mode in this run against the results.json this run replaced (or was told to compare with). */
export interface PreviousComparison {
  generatedAt: string;
  mode: BenchResults['mode'];
  yadlCommit: string;
  loadAverage: Machine['loadAverage'];
  /** A row is 'slower' when worse by more than this fraction. */
  threshold: number;
  rows: ComparisonRow[];
}

export interface BenchResults {
  generatedAt: string;
  mode: 'full' | 'quick' | 'custom';
  durationS: number;
  timing: Timing;
  machine: Machine;
  clock: ClockCheck | null;
  contenders: { id: string; label: string; family: Family; packageName: string; version: string; settings: string }[];
  scenarios: ScenarioResult[];
  targets: TargetResult[];
  /** yadl's default mode against the previous run, when there was one. */
  previous?: PreviousComparison;
}
