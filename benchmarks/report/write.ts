import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatValue } from './format';
import { renderMarkdown } from './markdown';
import type { BenchResults, ScenarioResult } from './results';
import { barChartSvg } from './svg';

function chartFor(scenario: ScenarioResult): string | null {
  const metric = scenario.metrics.find((m) => m.key === scenario.headline);
  if (metric === undefined || scenario.skipped !== undefined || scenario.contenders.length === 0) return null;
  const contenders = [...scenario.contenders].sort((a, b) => Number(b.family === 'yadl') - Number(a.family === 'yadl'));
  // A scenario may chart a few metrics of one unit side by side (s8: 1 server and cluster) instead of its headline.
  const charted = (scenario.chart ?? []).map((key) => scenario.metrics.find((m) => m.key === key)).filter((m) => m !== undefined);
  const shown = charted.length > 0 ? charted : [metric];
  const first = shown[0] ?? metric;
  const bars = contenders.flatMap((c) =>
    shown.map((m) => ({ label: shown.length > 1 ? `${c.label} · ${m.label}` : c.label, value: c.median[m.key] ?? null, family: c.family })),
  );
  const direction = first.better === 'lower' ? 'lower is better' : 'higher is better';
  const what = shown.length > 1 ? `${first.unit} (${shown.map((m) => m.label).join(', ')})` : `${first.label} (${first.unit})`;
  return barChartSvg({
    title: `${scenario.id}. ${scenario.title}`,
    caption: `${what}, median; ${direction}${scenario.logChart === true ? '; log scale' : ''}`,
    unit: first.unit,
    log: scenario.logChart === true,
    bars,
    format: (v) => formatValue(v, first.unit),
  });
}

/** Writes results.json, REPORT.md and one chart-<scenario>.svg per scenario that ran. Returns REPORT.md's path. */
export async function writeReport(outDir: string, results: BenchResults): Promise<string> {
  await mkdir(outDir, { recursive: true });
  const charts = new Map<string, string>();
  for (const scenario of results.scenarios) {
    const svg = chartFor(scenario);
    if (svg === null) continue;
    const file = `chart-${scenario.id}.svg`;
    await writeFile(path.join(outDir, file), svg);
    charts.set(scenario.id, file);
  }
  await writeFile(path.join(outDir, 'results.json'), `${JSON.stringify(results, null, 2)}\n`);
  const report = path.join(outDir, 'REPORT.md');
  await writeFile(report, renderMarkdown(results, charts));
  return report;
}
