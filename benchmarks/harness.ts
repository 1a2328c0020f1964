import { randomUUID } from 'node:crypto';
import { readFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { startRedisServer, type RedisServerHandle } from '../spec/support/redis-server';
import { contender as contenderSpec, contenders as allContenders, type ContenderSpec } from './contenders';
import { describeMachine, packageVersion } from './report/machine';
import { compareWithPrevious } from './report/compare';
import type { BenchResults, ClockCheck, ContenderResult, ScenarioResult } from './report/results';
import { evaluateTargets } from './report/targets';
import { writeReport } from './report/write';
import { formatValue, unitSuffix } from './report/format';
import { FULL_TIMING, QUICK_TIMING, scenarios as allScenarios, type Metrics, type Scenario, type ScenarioContext, type Timing } from './scenarios';
import { startBenchCluster, type BenchCluster } from './support/cluster';
import { WorkerPool } from './support/pool';
import { Progress } from './support/progress';
import { Admin } from './support/redis-admin';
import { median } from './support/stats';

export interface BenchOptions {
  /** About a second per run and one repetition. */
  quick?: boolean;
  /** Where REPORT.md, results.json and the charts go. */
  outDir: string;
  /** Use this Redis (one you may write to) instead of starting a private redis-server. */
  redisUrl?: string;
  /** Scenario ids to run (default: all). */
  scenarios?: readonly string[];
  /** Contender ids to run (default: all). */
  contenders?: readonly string[];
  timing?: Partial<Timing>;
  /**
   * results.json of the run to compare yadl's default mode with. Default:
   * the one in `outDir` that this run replaces (none: no comparison).
   */
  baseline?: string;
  /** Progress output (default: stderr). */
  write?: (text: string) => void;
  interactive?: boolean;
}

export interface BenchOutcome {
  results: BenchResults;
  reportPath: string;
}

function summaryOf(scenario: Scenario, metrics: Metrics): string {
  return scenario.metrics
    .slice(0, 4)
    .map((m) => `${m.label} ${formatValue(metrics[m.key], m.unit)}${unitSuffix(m.unit)}`)
    .join(' · ');
}

function medians(scenario: Scenario, reps: ContenderResult['reps']): Metrics {
  const ok = reps.filter((r): r is Metrics => !('error' in r));
  return Object.fromEntries(scenario.metrics.map((m) => [m.key, median(ok.map((r) => r[m.key]))]));
}

async function checkClocks(pool: WorkerPool): Promise<ClockCheck | null> {
  const probes = await Promise.all(pool.alive().map((w) => w.probe(20).catch(() => null)));
  const ok = probes.filter((p) => p !== null);
  if (ok.length === 0) return null;
  const worst = ok.reduce((a, b) => (Math.abs(b.offsetMs) > Math.abs(a.offsetMs) ? b : a));
  return { maxOffsetMs: Math.abs(worst.offsetMs), rttMs: worst.rttMs };
}

interface Shared {
  url: string;
  admin: Admin;
  pool: WorkerPool;
  timing: Timing;
  progress: Progress;
  runId: string;
}

/** The previous run's results, or undefined when there is none (or it cannot be read). */
async function readBaseline(file: string): Promise<BenchResults | undefined> {
  try {
    const parsed = JSON.parse(await readFile(file, 'utf8')) as Partial<BenchResults>;
    return Array.isArray(parsed.scenarios) && parsed.machine !== undefined ? (parsed as BenchResults) : undefined;
  } catch {
    return undefined;
  }
}

/** One scenario: its cluster if it needs one (stopped at the end, also on errors), and its repetitions. */
async function runScenario(scenario: Scenario, specs: readonly ContenderSpec[], shared: Shared): Promise<ScenarioResult> {
  const { progress } = shared;
  const result: ScenarioResult = {
    id: scenario.id,
    title: scenario.title,
    description: scenario.description,
    metrics: scenario.metrics,
    headline: scenario.headline,
    logChart: scenario.logChart === true,
    ...(scenario.chart === undefined ? {} : { chart: [...scenario.chart] }),
    contenders: [],
  };
  const skipped = (await scenario.unavailable?.()) ?? null;
  if (skipped !== null) {
    result.skipped = skipped;
    progress.note(skipped);
    return result;
  }
  let cluster: BenchCluster | undefined;
  if (scenario.cluster === true && specs.length > 0) {
    progress.note('starting a Redis Cluster (3 primaries + 3 replicas) for this scenario…');
    try {
      cluster = await startBenchCluster();
    } catch (error) {
      result.skipped = `Skipped: could not start a Redis Cluster: ${(error instanceof Error ? error.message : String(error)).split('\n')[0] ?? ''}`;
      progress.note(result.skipped);
      return result;
    }
    result.cluster = cluster.description;
    progress.note(`Redis Cluster: ${cluster.description}`);
  }
  try {
    result.contenders = await runReps(scenario, specs, shared, cluster);
  } finally {
    await cluster?.stop();
  }
  return result;
}

/** Every repetition of one scenario for each contender; a failed run is recorded and the workers restarted. */
async function runReps(scenario: Scenario, specs: readonly ContenderSpec[], shared: Shared, cluster: BenchCluster | undefined): Promise<ContenderResult[]> {
  const { url, admin, pool, timing, progress, runId } = shared;
  const rows = specs.map(
    (c): ContenderResult => ({ id: c.id, label: c.label, family: c.family, aggressive: c.aggressive, settings: c.settings, reps: [], details: [], median: {} }),
  );
  for (let rep = 1; rep <= timing.reps; rep++) {
    // Each repetition starts with another contender, so that none always runs first (cold) or last.
    const shift = (rep - 1) % Math.max(1, specs.length);
    for (const i of [...specs.keys()].slice(shift).concat([...specs.keys()].slice(0, shift))) {
      const spec = specs[i];
      const row = rows[i];
      if (spec === undefined || row === undefined) continue;
      pool.reset();
      progress.start(spec.label, rep, timing.reps);
      const details: Record<string, unknown> = {};
      row.details.push(details);
      const context: ScenarioContext = {
        url,
        admin,
        pool,
        timing,
        ...(cluster === undefined ? {} : { cluster }),
        namespace: (c, r) => `bench-${runId}-${scenario.id}-${c.id}-${r}`,
        progress: (text) => progress.note(text),
        detail: (key, value) => {
          details[key] = value;
        },
      };
      try {
        const metrics = await scenario.run(context, spec, rep);
        row.reps.push(metrics);
        progress.finish(summaryOf(scenario, metrics));
      } catch (error) {
        const message = error instanceof Error ? error.message : String(error);
        row.reps.push({ error: message });
        progress.finish(`FAILED: ${message.split('\n')[0] ?? ''}`);
        await pool.restart();
      }
    }
  }
  for (const row of rows) row.median = medians(scenario, row.reps);
  return rows;
}

/** Runs the selected scenarios for the selected contenders and writes the report. */
export async function runBenchmarks(options: BenchOptions): Promise<BenchOutcome> {
  const started = performance.now();
  const write = options.write ?? ((text: string) => void process.stderr.write(text));
  const progress = new Progress(write, options.interactive ?? false);
  const timing: Timing = { ...(options.quick === true ? QUICK_TIMING : FULL_TIMING), ...options.timing };
  const selected = allScenarios.filter((s) => options.scenarios === undefined || options.scenarios.includes(s.id));
  const wanted = (id: string): boolean => options.contenders === undefined || options.contenders.includes(id);
  for (const id of options.contenders ?? []) contenderSpec(id);

  let server: RedisServerHandle | undefined;
  if (options.redisUrl === undefined) server = await startRedisServer();
  const url = options.redisUrl ?? server?.url ?? '';
  const admin = new Admin(url);
  const pool = new WorkerPool();
  try {
    const notify = await admin.enableKeyspaceEvents();
    const machine = await describeMachine(admin, server === undefined ? 'REDIS_URL' : `private redis-server on 127.0.0.1:${server.port}`, notify);
    write(`yadl benchmarks (${options.quick === true ? 'quick' : 'full'}): Redis ${machine.redis} at ${url}, ${timing.reps} repetition(s)\n`);
    const runId = randomUUID().slice(0, 6);
    await pool.warm(Math.max(0, ...selected.map((s) => s.processes)));
    const results: ScenarioResult[] = [];
    for (const [index, scenario] of selected.entries()) {
      progress.scenario(index + 1, selected.length, scenario.id, scenario.title);
      const specs = scenario.contenders.filter(wanted).map(contenderSpec);
      results.push(await runScenario(scenario, specs, { url, admin, pool, timing, progress, runId }));
    }
    const clock = await checkClocks(pool);
    machine.loadAverage.end = os.loadavg();
    const custom = options.scenarios !== undefined || options.contenders !== undefined || options.timing !== undefined;
    const used = new Set(results.flatMap((s) => s.contenders.map((c) => c.id)));
    const outcome: BenchResults = {
      generatedAt: new Date().toISOString(),
      mode: custom ? 'custom' : options.quick === true ? 'quick' : 'full',
      durationS: (performance.now() - started) / 1000,
      timing,
      machine,
      clock,
      contenders: allContenders
        .filter((c) => used.has(c.id))
        .map((c) => ({ id: c.id, label: c.label, family: c.family, packageName: c.packageName, version: packageVersion(c.packageName), settings: c.settings })),
      scenarios: results,
      targets: evaluateTargets(results),
    };
    const baseline = await readBaseline(options.baseline ?? path.join(options.outDir, 'results.json'));
    if (baseline !== undefined) outcome.previous = compareWithPrevious(baseline, results);
    const reportPath = await writeReport(options.outDir, outcome);
    return { results: outcome, reportPath };
  } finally {
    await pool.close();
    await admin.close();
    await server?.stop();
  }
}
