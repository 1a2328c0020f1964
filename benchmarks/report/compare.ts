import type { BenchResults, ContenderResult, PreviousComparison, ComparisonRow, ScenarioResult } from './results';

/** yadl's default (non-fair) mode: what must not get slower from one run to the next. */
export const DEFAULT_MODE = ['yadl-lock', 'yadl-facade', 'yadl-rw'] as const;

/**
 * The reference each scenario's yadl rows are divided by, so that a busier
 * machine (which slows every contender) is not taken for a regression: the
 * floor its targets use. s6 has none (only yadl runs there): raw numbers only.
 */
export const REFERENCE: Readonly<Record<string, string>> = {
  s1: 'raw',
  s2: 'raw-notified',
  s2b: 'raw-notified',
  s3: 'raw-notified',
  s4: 'raw-notified',
  s5: 'raw',
  s7: 'async-mutex',
  s8: 'raw',
};

/** Worse by more than this (after ÷ before, in the bad direction) is flagged. */
export const REGRESSION_THRESHOLD = 0.15;

function row(scenario: ScenarioResult | undefined, id: string): ContenderResult | undefined {
  return scenario?.contenders.find((c) => c.id === id);
}

function value(c: ContenderResult | undefined, key: string): number | null {
  const v = c?.median[key];
  return typeof v === 'number' && Number.isFinite(v) ? v : null;
}

/** How much worse `after` is than `before` (0.2: 20% worse), in the metric's own direction; null when unknown. */
export function worsening(before: number | null, after: number | null, better: 'lower' | 'higher'): number | null {
  if (before === null || after === null || before <= 0 || after <= 0) return null;
  return better === 'lower' ? after / before - 1 : before / after - 1;
}

/**
 * Every metric with a direction of yadl's default-mode rows, this run
 * against `previous`: raw, and divided by the scenario's reference in each
 * run. Flagged 'slower' when the reference-relative number is worse by more
 * than REGRESSION_THRESHOLD (the raw one when no reference was measured in
 * both runs).
 */
export function compareWithPrevious(previous: BenchResults, current: readonly ScenarioResult[]): PreviousComparison {
  const rows: ComparisonRow[] = [];
  for (const now of current) {
    const before = previous.scenarios.find((s) => s.id === now.id);
    if (before === undefined || now.skipped !== undefined || before.skipped !== undefined) continue;
    const reference = REFERENCE[now.id];
    for (const id of DEFAULT_MODE) {
      const mineNow = row(now, id);
      const mineBefore = row(before, id);
      if (mineNow === undefined || mineBefore === undefined || id === reference) continue;
      for (const metric of now.metrics) {
        if (metric.better === undefined) continue;
        const b = value(mineBefore, metric.key);
        const a = value(mineNow, metric.key);
        if (a === null && b === null) continue;
        const refBefore = reference === undefined ? null : value(row(before, reference), metric.key);
        const refNow = reference === undefined ? null : value(row(now, reference), metric.key);
        const relBefore = b !== null && refBefore !== null && refBefore > 0 ? b / refBefore : null;
        const relNow = a !== null && refNow !== null && refNow > 0 ? a / refNow : null;
        const raw = worsening(b, a, metric.better);
        const relative = worsening(relBefore, relNow, metric.better);
        const judged = relative ?? raw;
        rows.push({
          scenario: now.id,
          contender: id,
          metric: metric.key,
          label: metric.label,
          unit: metric.unit,
          better: metric.better,
          before: b,
          after: a,
          reference: relBefore !== null && relNow !== null ? (reference ?? null) : null,
          relBefore,
          relAfter: relNow,
          worse: judged,
          verdict: judged === null ? 'n/a' : judged > REGRESSION_THRESHOLD ? 'slower' : judged < -REGRESSION_THRESHOLD ? 'faster' : 'same',
        });
      }
    }
  }
  return {
    generatedAt: previous.generatedAt,
    mode: previous.mode,
    yadlCommit: previous.machine.yadlCommit,
    loadAverage: previous.machine.loadAverage,
    threshold: REGRESSION_THRESHOLD,
    rows,
  };
}
