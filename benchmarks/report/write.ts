import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { formatValue } from './format';
import { renderMarkdown } from './markdown';
import type { BenchResults, ScenarioResult } from './results';
import { barChartSvg } from './svg';

function chartFor(scenario: ScenarioResult): string | null {
  const metric = scenario.metrics.find((m) => m.key === scenario.headline);
  if (metric === undefined || scenario.skipped !== undefined || scenario.contenders.length === 0) return null;
  const bars = [...scenario.contenders]
    .sort((a, b) => Number(b.family === 'yadl') - Number(a.family === 'yadl'))
    .map((c) => ({ label: c.label, value: c.median[metric.key] ?? null, family: c.family }));
  const direction = metric.better === 'lower' ? 'lower is better' : 'higher is better';
  return barChartSvg({
    title: `${scenario.id}. ${scenario.title}`,
    caption: `${metric.label} (${metric.unit}), median; ${direction}${scenario.logChart === true ? '; log scale' : ''}`,
    unit: metric.unit,
    log: scenario.logChart === true,
    bars,
    format: (v) => formatValue(v, metric.unit),
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
