/**
 * `npm run bench`: every scenario, every contender, one private Redis.
 *
 *   npm run bench                         full run (3 repetitions, medians)
 *   npm run bench -- --quick              ~1 s per run, 1 repetition (or BENCH_QUICK=1)
 *   npm run bench -- --scenarios=s1,s2b   only these scenarios
 *   npm run bench -- --contenders=yadl-lock,raw-notified
 *   npm run bench -- --reps=5 --out=/tmp/bench
 *   npm run bench -- --baseline=old/results.json   compare yadl's default mode with that run
 *                                         (default: the results.json this run replaces)
 *
 * REDIS_URL: use that Redis (one you may write to) instead of starting a
 * redis-server on a free loopback port.
 */
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { runBenchmarks } from './harness';
import { formatRatio, formatValue, unitSuffix } from './report/format';

const DEFAULT_OUT = path.join(path.dirname(fileURLToPath(import.meta.url)), 'results');

const list = (value: string | undefined): string[] | undefined =>
  value === undefined ? undefined : value.split(',').map((s) => s.trim()).filter((s) => s !== '');

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      quick: { type: 'boolean', default: false },
      scenarios: { type: 'string' },
      contenders: { type: 'string' },
      reps: { type: 'string' },
      out: { type: 'string' },
      baseline: { type: 'string' },
    },
  });
  const quick = values.quick === true || process.env.BENCH_QUICK === '1';
  const reps = values.reps === undefined ? undefined : Number(values.reps);
  if (reps !== undefined && !(Number.isInteger(reps) && reps >= 1)) throw new Error(`--reps must be a whole number >= 1, got ${values.reps}`);
  const scenarios = list(values.scenarios);
  const contenders = list(values.contenders);
  const redisUrl = process.env.REDIS_URL;
  const { results, reportPath } = await runBenchmarks({
    quick,
    outDir: values.out ?? DEFAULT_OUT,
    ...(redisUrl === undefined || redisUrl === '' ? {} : { redisUrl }),
    ...(scenarios === undefined ? {} : { scenarios }),
    ...(contenders === undefined ? {} : { contenders }),
    ...(reps === undefined ? {} : { timing: { reps } }),
    ...(values.baseline === undefined ? {} : { baseline: values.baseline }),
    interactive: process.stderr.isTTY,
  });
  const lines = results.targets.map((t) => {
    const value =
      t.value === null
        ? 'n/a'
        : t.unit.startsWith('×')
          ? formatRatio(t.value)
          : `${Number.isInteger(t.value) ? t.value : t.value.toFixed(2)} ${t.unit}`;
    const verdict = t.pass === null ? 'n/a ' : t.pass ? 'PASS' : 'MISS';
    return `  ${verdict}  ${t.contender.padEnd(12)} ${t.target}: ${value} (${t.margin})`;
  });
  const slower = (results.previous?.rows ?? []).filter((r) => r.verdict === 'slower');
  const previous =
    results.previous === undefined
      ? ''
      : `\n\nDefault mode against the run of ${results.previous.generatedAt}: ${slower.length} of ${results.previous.rows.length} numbers slower by more than ${Math.round(results.previous.threshold * 100)}%` +
        slower
          .map((r) => `\n  slower  ${r.scenario} ${r.contender.padEnd(12)} ${r.label}: ${formatValue(r.before, r.unit)} → ${formatValue(r.after, r.unit)}${unitSuffix(r.unit)}`)
          .join('');
  console.log(`\nTargets:\n${lines.join('\n')}${previous}\n\nReport: ${reportPath} (${Math.round(results.durationS)} s)`);
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
