import type { MetricDef } from '../scenarios/types';
import { formatMs, formatRatio, formatValue, unitSuffix } from './format';
import type { BenchResults, ComparisonRow, ContenderResult, ScenarioResult, TargetResult } from './results';

const YADL_FIRST = (a: ContenderResult, b: ContenderResult): number =>
  Number(b.family === 'yadl') - Number(a.family === 'yadl');

function table(header: readonly string[], rows: readonly (readonly string[])[]): string {
  const line = (cells: readonly string[]): string => `| ${cells.map((c) => c.replace(/\|/g, '\\|')).join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

function metricHeader(metric: MetricDef): string {
  const arrow = metric.better === 'lower' ? ' ↓' : metric.better === 'higher' ? ' ↑' : '';
  const unit = unitSuffix(metric.unit) === '' || metric.label.endsWith(metric.unit) ? '' : ` (${metric.unit})`;
  return `${metric.label}${unit}${arrow}`;
}

function verdict(t: TargetResult): string {
  return t.pass === null ? 'n/a' : t.pass ? '**PASS**' : '**MISS**';
}

function targetValue(t: TargetResult): string {
  if (t.value === null) return 'n/a';
  if (t.unit.startsWith('×')) return `${formatRatio(t.value)} ${t.unit.slice(1).trim()}`;
  if (t.unit === 'ms') return `${formatMs(t.value)} ms`;
  if (t.unit === 'connections' || t.unit === 'waiters out of order') return `${Math.round(t.value)} ${t.unit}`;
  return `${formatValue(t.value, t.unit === 'B' ? 'B' : 'cmd')} ${t.unit}`;
}

function limitText(t: TargetResult): string {
  const limit = t.unit.startsWith('×') ? `${t.limit}×` : t.unit === 'B' ? `${t.limit} B` : `${t.limit} ${t.unit}`;
  return `${t.comparison} ${limit}`;
}

function targetsSection(results: BenchResults): string {
  if (results.targets.length === 0) return '_No target was evaluated in this run._';
  return table(
    ['target', 'yadl', 'measured', 'limit', 'result', 'margin', 'from'],
    results.targets.map((t) => [t.target, t.contender, targetValue(t), limitText(t), verdict(t), t.margin, t.detail]),
  );
}

function ratioTable(scenario: ScenarioResult): string {
  const metric = scenario.metrics.find((m) => m.key === scenario.headline);
  // A headline that is already a ratio (s8: cluster ÷ single) is not divided again.
  if (metric === undefined || metric.unit === '×') return '';
  const yadl = scenario.contenders.filter((c) => c.family === 'yadl');
  const others = scenario.contenders.filter((c) => c.family !== 'yadl');
  if (yadl.length === 0 || others.length === 0) return '';
  const value = (c: ContenderResult): number | null => c.median[metric.key] ?? null;
  const rows = others.map((other) => [
    other.label,
    formatValue(value(other), metric.unit),
    ...yadl.map((y) => {
      const a = value(y);
      const b = value(other);
      return a !== null && b !== null && b !== 0 ? formatRatio(a / b) : 'n/a';
    }),
  ]);
  const better = metric.better === 'lower' ? 'below 1× means yadl is faster' : 'above 1× means yadl is faster';
  return `Ratios on ${metric.label} (yadl ÷ other; ${better}):\n\n${table(['other', metric.label, ...yadl.map((y) => `${y.label} ÷ other`)], rows)}`;
}

/** A scenario whose headline is itself a ratio (s8): each contender's, with the charted numbers it comes from. */
function ratioHeadline(scenario: ScenarioResult, metric: MetricDef): string {
  const from = (scenario.chart ?? []).map((key) => scenario.metrics.find((m) => m.key === key)).filter((m) => m !== undefined);
  const entries = [...scenario.contenders]
    .sort(YADL_FIRST)
    .filter((c) => !c.aggressive && c.median[metric.key] !== null && c.median[metric.key] !== undefined)
    .map((c) => {
      const parts = from.map((m) => `${m.label} ${formatValue(c.median[m.key], m.unit)}`);
      const unit = from[0] === undefined ? '' : unitSuffix(from[0].unit);
      return `${c.label} ${formatRatio(c.median[metric.key] ?? null)}` + (parts.length > 0 ? ` (${parts.join(' → ')}${unit})` : '');
    });
  return `- **${scenario.id} ${scenario.title}**, ${metric.label}: ${entries.join('; ')}`;
}

/** One line per scenario: the first yadl row's headline against the floors and the peers at their defaults. */
function headlines(results: BenchResults): string {
  const lines: string[] = [];
  for (const scenario of results.scenarios) {
    const metric = scenario.metrics.find((m) => m.key === scenario.headline);
    const yadl = scenario.contenders.find((c) => c.family === 'yadl');
    const mine = yadl?.median[scenario.headline] ?? null;
    if (metric === undefined || yadl === undefined || mine === null || scenario.skipped !== undefined) continue;
    if (metric.unit === '×') {
      lines.push(ratioHeadline(scenario, metric));
      continue;
    }
    const compared = scenario.contenders
      .filter((c) => c.family === 'floor' || (c.family === 'peer' && !c.aggressive))
      .map((c) => {
        const theirs = c.median[scenario.headline] ?? null;
        return theirs === null || theirs === 0
          ? null
          : `${formatRatio(mine / theirs)} ${c.label} (${formatValue(theirs, metric.unit)}${unitSuffix(metric.unit)})`;
      })
      .filter((x): x is string => x !== null);
    lines.push(
      `- **${scenario.id} ${scenario.title}**, ${metric.label}: ${yadl.label} ${formatValue(mine, metric.unit)}${unitSuffix(metric.unit)}` +
        (compared.length > 0 ? `; that is ${compared.join(', ')}` : ''),
    );
  }
  return lines.length === 0
    ? ''
    : `## Headline ratios\n\nyadl ÷ other on each scenario's main metric (the others at their default settings; where the main metric is itself a ratio, each contender's own):\n\n${lines.join('\n')}`;
}

const signed = (x: number): string => `${x >= 0 ? '+' : '−'}${Math.abs(x * 100).toFixed(0)}%`;

function comparisonCells(r: ComparisonRow): string[] {
  const change = r.before !== null && r.after !== null && r.before !== 0 ? signed(r.after / r.before - 1) : 'n/a';
  const relative =
    r.reference === null || r.relBefore === null || r.relAfter === null
      ? 'n/a'
      : `${formatRatio(r.relBefore)} → ${formatRatio(r.relAfter)} ${r.reference}`;
  const verdict = r.verdict === 'slower' ? `**slower** (${signed(r.worse ?? 0)})` : r.verdict === 'n/a' ? 'n/a' : `${r.verdict} (${signed(r.worse ?? 0)})`;
  return [
    r.scenario,
    r.contender,
    `${r.label}${r.better === 'lower' ? ' ↓' : ' ↑'}`,
    `${formatValue(r.before, r.unit)}${unitSuffix(r.unit)}`,
    `${formatValue(r.after, r.unit)}${unitSuffix(r.unit)}`,
    change,
    relative,
    verdict,
  ];
}

/** yadl's default mode against the previous run: raw numbers, and relative to each scenario's floor (which the machine's load moves too). */
function previousSection(results: BenchResults): string {
  const p = results.previous;
  if (p === undefined) return '';
  const slower = p.rows.filter((r) => r.verdict === 'slower');
  const threshold = `${Math.round(p.threshold * 100)}%`;
  const intro =
    `This run against the previous one (${p.generatedAt}, ${p.mode}, yadl at ${p.yadlCommit}; load average ` +
    `${load(p.loadAverage.start)} at its start, this run ${load(results.machine.loadAverage.start)}): every metric with a ` +
    `direction of yadl's default-mode rows. "vs reference" divides yadl's number by the scenario's floor in the same run ` +
    `(s1, s5, s8: the raw lock; s2, s2b, s3, s4: the notified raw lock; s7: async-mutex), which a busier machine slows ` +
    `too; a number is flagged **slower** when that ratio (the raw number where there is none) is worse by more than ${threshold}. ` +
    `Medians of few repetitions on a shared machine: treat a flag as a reason to measure again, not as a verdict.`;
  const summary =
    slower.length === 0
      ? `No number is slower by more than ${threshold}.`
      : `${slower.length} of ${p.rows.length} numbers slower by more than ${threshold}: ` +
        slower.map((r) => `${r.scenario} ${r.contender} ${r.label}`).join('; ') +
        '.';
  const header = ['scenario', 'yadl', 'metric', 'before', 'now', 'change', 'vs reference (before → now)', 'verdict'];
  return [`## Default mode against the previous run`, intro, summary, table(header, p.rows.map(comparisonCells))].join('\n\n');
}

function scenarioSection(scenario: ScenarioResult, charts: ReadonlyMap<string, string>): string {
  const parts = [`## ${scenario.id}. ${scenario.title}`, scenario.description];
  if (scenario.cluster !== undefined) parts.push(`Redis Cluster: ${scenario.cluster}.`);
  if (scenario.skipped !== undefined) {
    parts.push(`**${scenario.skipped}**`);
    return parts.join('\n\n');
  }
  const contenders = [...scenario.contenders].sort(YADL_FIRST);
  parts.push(
    table(
      ['contender', ...scenario.metrics.map(metricHeader), 'reps'],
      contenders.map((c) => {
        const ok = c.reps.filter((r) => !('error' in r)).length;
        const errors = c.reps.filter((r): r is { error: string } => 'error' in r);
        return [
          c.label,
          ...scenario.metrics.map((m) => formatValue(c.median[m.key], m.unit)),
          errors.length === 0 ? String(ok) : `${ok} (${errors.length} failed: ${errors[0]?.error.split('\n')[0] ?? ''})`,
        ];
      }),
    ),
  );
  const chart = charts.get(scenario.id);
  if (chart !== undefined) parts.push(`![${scenario.title}](${chart})`);
  const ratios = ratioTable(scenario);
  if (ratios !== '') parts.push(ratios);
  return parts.join('\n\n');
}

const load = (values: readonly number[]): string => values.map((v) => v.toFixed(2)).join(' / ');

function machineSection(results: BenchResults): string {
  const m = results.machine;
  const clock =
    results.clock === null
      ? 'not checked'
      : `largest offset between processes ${formatMs(results.clock.maxOffsetMs)} ms (probe round trip ${formatMs(results.clock.rttMs)} ms)`;
  return table(
    ['', ''],
    [
      ['CPU', `${m.cpu}, ${m.cores} cores`],
      ['memory', `${m.memoryGiB} GiB`],
      ['OS', m.os],
      ['load average', `${load(m.loadAverage.start)} at the start, ${load(m.loadAverage.end)} at the end (1/5/15 min)`],
      ['Node.js', m.node],
      ['Redis', `${m.redis} (hz ${m.redisHz}), ${m.redisSource}; notify-keyspace-events "${m.notifyKeyspaceEvents}" for every contender`],
      ['yadl', `${m.packages.yadl ?? '?'} at ${m.yadlCommit}`],
      ['packages', Object.entries(m.packages).filter(([n]) => n !== 'yadl').map(([n, v]) => `${n} ${v}`).join(', ')],
      ['shared clock', clock],
    ],
  );
}

function settingsSection(results: BenchResults): string {
  const t = results.timing;
  const runs = table(
    ['contender', 'package', 'settings'],
    results.contenders.map((c) => [c.label, `${c.packageName} ${c.version}`, c.settings]),
  );
  const timing =
    `Mode: ${results.mode}; ${t.reps} repetition(s) of every run, medians shown; total ${Math.round(results.durationS)} s. ` +
    `Durations per run: uncontended ${t.uncontendedMs} ms, contended ${t.contendedMs} ms, ping-pong ${t.pingPongMs} ms, ` +
    `idle waiters ${t.idleWaiters} (settle ${t.idleSettleMs} ms, window ${t.idleWindowMs} ms), expiry ${t.expiryNames} names ` +
    `per killed holder (lease ${t.expiryLeaseMs} ms), many names ${t.manyNames} for ${t.manyNamesMs} ms, scale ${t.scaleWaiters} ` +
    `waiters on ${t.scaleNames} names (settle ${t.scaleSettleMs} ms), cluster scale-out ${t.clusterNames} names for ` +
    `${t.clusterMs} ms on each deployment, fair line with a killed head ${t.deadHeadNames} names per run (handoffGrace ` +
    `${t.handoffGraceMs} ms).`;
  return `${timing}\n\n${runs}`;
}

/** The whole report, in Markdown; `charts` maps scenario id to the chart file name. */
export function renderMarkdown(results: BenchResults, charts: ReadonlyMap<string, string>): string {
  const passed = results.targets.filter((t) => t.pass === true).length;
  const missed = results.targets.filter((t) => t.pass === false).length;
  return [
    '# yadl benchmark report',
    `Generated ${results.generatedAt} by \`npm run bench\`${results.mode === 'full' ? '' : ` (${results.mode})`}. ` +
      'Every contender ran against the same private Redis server in the same run' +
      (results.scenarios.some((s) => s.cluster !== undefined) ? ' (s8 also against a Redis Cluster started for it)' : '') +
      '; ratios compare numbers from this run only. ' +
      'Raw numbers: [results.json](results.json).',
    `## Targets (issue 4, fair mode, issue 14): ${passed} passed, ${missed} missed`,
    targetsSection(results),
    headlines(results),
    previousSection(results),
    '## Machine',
    machineSection(results),
    '## Contenders and settings',
    settingsSection(results),
    ...results.scenarios.map((s) => scenarioSection(s, charts)),
    '## Method notes',
    [
      '- Workers are Node.js child processes running TypeScript through tsx, kept for the whole run (spawned once); yadl runs from src/ as tsx compiles it.',
      '- Each repetition runs the contenders in a rotated order, so that none always runs first or last.',
      '- Timestamps that cross processes use performance.timeOrigin + performance.now(); the shared-clock line above says how well the processes agree.',
      '- INFO commandstats counts the commands run inside Lua scripts too; "cmds sent" counts what the ioredis clients wrote.',
      '- A failed repetition is listed in its row; medians use the repetitions that succeeded.',
    ].join('\n'),
    '',
  ].join('\n\n');
}
