/**
 * Smoke test of the benchmark harness (not the benchmark itself): two
 * scenarios in quick mode, shortened further, for yadl and the floors only.
 * It writes into a temporary directory, never into benchmarks/results/.
 */
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, inject, it } from 'vitest';
import { runBenchmarks } from '../../benchmarks/harness';
import type { ScenarioResult } from '../../benchmarks/report/results';
import { redisServerAvailable } from '../support/redis-server';

function metric(scenario: ScenarioResult | undefined, contender: string, key: string): number | null | undefined {
  return scenario?.contenders.find((c) => c.id === contender)?.median[key];
}

describe('benchmark harness', () => {
  it('measures uncontended pairs and ping-pong handoffs for yadl and the floors, and writes a report', async () => {
    const outDir = await mkdtemp(path.join(os.tmpdir(), 'yadl-bench-smoke-'));
    let progress = '';
    try {
      const { results, reportPath } = await runBenchmarks({
        quick: true,
        outDir,
        // Its own redis-server when it can (as `npm run bench` does), else the tests' Redis.
        ...(redisServerAvailable() ? {} : { redisUrl: inject('redisUrl') }),
        scenarios: ['s1', 's2b'],
        contenders: ['yadl-lock', 'yadl-lock-fair', 'raw', 'raw-notified'],
        timing: { uncontendedMs: 300, pingPongMs: 600 },
        write: (text) => {
          progress += text;
        },
      });

      expect(path.dirname(reportPath)).toBe(outDir);
      const [s1, s2b] = results.scenarios;
      expect(s1?.id).toBe('s1');
      expect(s2b?.id).toBe('s2b');
      expect(s1?.contenders.map((c) => c.id).sort()).toEqual(['raw', 'yadl-lock']);
      expect(s2b?.contenders.map((c) => c.id).sort()).toEqual(['raw-notified', 'yadl-lock', 'yadl-lock-fair']);
      for (const scenario of [s1, s2b]) {
        for (const row of scenario?.contenders ?? []) expect(row.reps).toEqual([expect.not.objectContaining({ error: expect.anything() })]);
      }

      for (const contender of ['yadl-lock', 'raw']) {
        expect(metric(s1, contender, 'opsPerSec')).toBeGreaterThan(0);
        const p50 = metric(s1, contender, 'p50') ?? Number.NaN;
        expect(p50).toBeGreaterThan(0);
        expect(p50).toBeLessThanOrEqual(metric(s1, contender, 'p99') ?? Number.NaN);
      }
      for (const contender of ['yadl-lock', 'yadl-lock-fair', 'raw-notified']) {
        expect(metric(s2b, contender, 'handoffs')).toBeGreaterThan(0);
        // A handoff takes time, but far less than the 600 ms the run lasts.
        expect(metric(s2b, contender, 'handoffP50')).toBeGreaterThan(0);
        expect(metric(s2b, contender, 'handoffP50')).toBeLessThan(500);
      }

      const evaluated = results.targets.map((t) => `${t.scenario} ${t.contender}`);
      expect(evaluated).toContain('s1 yadl-lock');
      expect(evaluated).toContain('s2b yadl-lock');
      expect(evaluated).toContain('s2b yadl-lock-fair');
      for (const target of results.targets.filter((t) => t.scenario === 's1' || t.target.includes('notified raw lock'))) {
        expect(Number.isFinite(target.value)).toBe(true);
        expect(typeof target.pass).toBe('boolean');
      }
      // No peer ran, so "5x lower than every polling peer" is not judged.
      expect(results.targets.some((t) => t.target.includes('polling peer'))).toBe(false);

      const report = await readFile(reportPath, 'utf8');
      expect(report).toContain('# yadl benchmark report');
      expect(report).toContain('## s2b. Ping-pong handoff');
      expect(report).toMatch(/\*\*(PASS|MISS)\*\*/);
      const json = JSON.parse(await readFile(path.join(outDir, 'results.json'), 'utf8')) as { scenarios: unknown[] };
      expect(json.scenarios).toHaveLength(2);
      for (const chart of ['chart-s1.svg', 'chart-s2b.svg']) {
        expect(await readFile(path.join(outDir, chart), 'utf8')).toMatch(/^<svg [^>]*>[\s\S]*<\/svg>\n$/);
      }

      expect(progress).toContain('s2b');
      expect(progress).toMatch(/yadl lock\$\s+rep 1\/1/);
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  }, 90_000);

  it("measures a fair line whose head's process is killed: the next waiter acquires once the grant's handoffGrace is over", async () => {
    const outDir = await mkdtemp(path.join(os.tmpdir(), 'yadl-bench-smoke-'));
    try {
      const { results } = await runBenchmarks({
        quick: true,
        outDir,
        ...(redisServerAvailable() ? {} : { redisUrl: inject('redisUrl') }),
        scenarios: ['s9'],
        contenders: ['yadl-lock-fair'],
        timing: { deadHeadNames: 2, handoffGraceMs: 300 },
        write: () => undefined,
      });
      const [s9] = results.scenarios;
      expect(s9?.contenders[0]?.reps).toEqual([expect.not.objectContaining({ error: expect.anything() })]);
      expect(metric(s9, 'yadl-lock-fair', 'samples')).toBe(2);
      expect(metric(s9, 'yadl-lock-fair', 'graceMs')).toBe(300);
      // The grant to the dead head holds the lock for its grace: nobody acquires sooner.
      expect(metric(s9, 'yadl-lock-fair', 'p50')).toBeGreaterThanOrEqual(295);
      expect(metric(s9, 'yadl-lock-fair', 'max')).toBeLessThan(5_000);
      const target = results.targets.find((t) => t.scenario === 's9');
      expect(target?.limit).toBe(350);
      expect(typeof target?.pass).toBe('boolean');
    } finally {
      await rm(outDir, { recursive: true, force: true });
    }
  }, 90_000);
});
