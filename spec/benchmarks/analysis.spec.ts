/** The harness's pure parts: how handoffs are told apart, statistics, targets, the mailbox, charts. */
import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../benchmarks/report/markdown';
import type { BenchResults, ContenderResult, ScenarioResult } from '../../benchmarks/report/results';
import { barChartSvg } from '../../benchmarks/report/svg';
import { compareWithPrevious, worsening } from '../../benchmarks/report/compare';
import { evaluateTargets, margin } from '../../benchmarks/report/targets';
import { analyzeHandoffs, overtaken } from '../../benchmarks/scenarios/handoffs';
import { contended, fairness } from '../../benchmarks/scenarios/s2-contended';
import { servedOutOfOrder } from '../../benchmarks/scenarios/s3-idle-waiters';
import { clusterScaleOut } from '../../benchmarks/scenarios/s8-cluster';
import { QUICK_TIMING } from '../../benchmarks/scenarios/types';
import { Mailbox, PARENT } from '../../benchmarks/support/ipc';
import { median, percentile, summarize } from '../../benchmarks/support/stats';

describe('analyzeHandoffs', () => {
  it('counts a handoff only to a different worker that was already waiting, and keeps re-takes apart', () => {
    // [waitStart, acquiredAt, releasedAt] per acquisition.
    const worker0 = [0, 1, 2, /* re-take: */ 2, 3, 4, /* after worker 1, waited since 5: */ 5, 12, 13];
    const worker1 = [/* waited since 1: */ 1, 5, 6, /* started after the release at 6, past `until`: */ 13.5, 14, 15];
    const handoffs = analyzeHandoffs([worker0, worker1], 12);
    expect(handoffs.acquisitions).toBe(4);
    expect(handoffs.perWorker).toEqual([3, 1]);
    expect(handoffs.selfRetakes).toBe(1);
    // 4 -> 5 (worker 1 waited since 1) and 6 -> 12 (worker 0 waited since 5).
    expect(handoffs.delays).toEqual([1, 6]);
    expect(handoffs.freeGrabs).toBe(0);
  });

  it('calls an acquisition by a worker that came after the release a free grab', () => {
    const handoffs = analyzeHandoffs([[0, 1, 2], [3, 4, 5]], 100);
    expect(handoffs.delays).toEqual([]);
    expect(handoffs.freeGrabs).toBe(1);
  });
});

describe('fairness and order', () => {
  it('divides the fewest acquisitions of one worker by the most', () => {
    expect(fairness([9, 10, 10, 9])).toBeCloseTo(0.9);
    expect(fairness([0, 0])).toBeNull();
    expect(fairness([])).toBeNull();
  });

  it('counts an acquisition as overtaken when a worker that began waiting more than 1 ms later got the lock first', () => {
    // [waitStart, acquiredAt, releasedAt]: worker 1 waits from 0, worker 2 from 5, yet worker 2 acquires first.
    expect(overtaken([[0, 1, 2], [0, 10, 11], [5, 6, 7]], 100)).toBe(1);
    // Within the slack (0.5 ms apart): the first attempts may have reached Redis in either order.
    expect(overtaken([[0, 1, 2], [0, 10, 11], [0.5, 6, 7]], 100)).toBe(0);
    // First come, first served.
    expect(overtaken([[0, 1, 2], [1, 3, 4], [2, 5, 6]], 100)).toBe(0);
    // Acquisitions after `until` are left out.
    expect(overtaken([[0, 1, 2], [0, 200, 201], [5, 6, 7]], 100)).toBe(0);
  });

  it('counts the waiters served (in fence order, else acquisition order) at another place than their arrival', () => {
    const turn = (arrival: number, fence: number | null, acquiredAt = fence ?? 0): { arrival: number; fence: number | null; acquiredAt: number } => ({
      arrival,
      fence,
      acquiredAt,
    });
    expect(servedOutOfOrder([turn(0, 10), turn(1, 11), turn(2, 12)])).toBe(0);
    // 1 and 2 swapped: both are out of place.
    expect(servedOutOfOrder([turn(0, 10), turn(1, 12), turn(2, 11)])).toBe(2);
    // Fences decide, not the clocks of the processes.
    expect(servedOutOfOrder([turn(0, 10, 5), turn(1, 11, 4)])).toBe(0);
    // Without fences: acquisition times.
    expect(servedOutOfOrder([turn(0, null, 5), turn(1, null, 4)])).toBe(2);
  });
});

describe('statistics', () => {
  it('takes nearest-rank percentiles and medians of the finite values', () => {
    const sorted = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(sorted, 50)).toBe(50);
    expect(percentile(sorted, 99)).toBe(99);
    expect(percentile([], 50)).toBeNull();
    expect(median([3, null, 1, Number.NaN, 2])).toBe(2);
    expect(median([4, 1, 3, 2])).toBe(2.5);
    expect(median([null, undefined])).toBeNull();
    expect(summarize([5, 1, 3])).toMatchObject({ n: 3, p50: 3, max: 5, mean: 3 });
  });
});

function scenario(id: string, rows: Record<string, Record<string, number | null>>): ScenarioResult {
  const contenders: ContenderResult[] = Object.entries(rows).map(([cid, median]) => ({
    id: cid,
    label: cid,
    family: cid.startsWith('yadl') ? 'yadl' : cid.startsWith('raw') ? 'floor' : 'peer',
    aggressive: false,
    settings: '',
    reps: [median],
    details: [{}],
    median,
  }));
  return { id, title: id, description: '', metrics: [], headline: '', logChart: false, contenders };
}

describe('targets', () => {
  it('judges relative targets on ratios of the same run and says by how much', () => {
    const targets = evaluateTargets([
      scenario('s2b', {
        'yadl-lock': { handoffP50: 0.9 },
        'raw-notified': { handoffP50: 0.5 },
        redlock: { handoffP50: 200 },
        sesame: { handoffP50: 180 },
        'redis-semaphore': { handoffP50: 4 },
      }),
      scenario('s1', { 'yadl-lock': { p50: 0.1 }, raw: { p50: 0.1 } }),
    ]);
    const floor = targets.find((t) => t.scenario === 's2b' && t.target.includes('notified'));
    expect(floor?.value).toBeCloseTo(1.8);
    expect(floor?.pass).toBe(false);
    expect(floor?.margin).toBe('1.20× the limit (20% over)');
    const peers = targets.find((t) => t.scenario === 's2b' && t.target.includes('polling peer'));
    expect(peers?.value).toBeCloseTo(4 / 0.9);
    expect(peers?.pass).toBe(false);
    expect(peers?.detail).toContain('redis-semaphore');
    const uncontended = targets.find((t) => t.scenario === 's1');
    expect(uncontended?.pass).toBe(true);
    expect(targets.some((t) => t.scenario === 's3')).toBe(false);
  });

  it("judges issue 14's hot-path rows: 1000 names against the raw floor and the peers, the uncontended pairs, heap per waiter", () => {
    const targets = evaluateTargets([
      scenario('s5', {
        'yadl-lock': { locksPerSec: 9_500, clientCpuUs: 60 },
        raw: { locksPerSec: 10_000, clientCpuUs: 50 },
        redlock: { locksPerSec: 8_000 },
        'redis-semaphore': { locksPerSec: 9_000 },
      }),
      scenario('s1', { 'yadl-lock': { p50: 0.09 }, 'yadl-facade': { p50: 0.12 }, raw: { p50: 0.1 } }),
      scenario('s7', { 'yadl-lock': { bytesPerWaiter: 1_900 }, 'yadl-facade': { bytesPerWaiter: 2_600 } }),
    ]);
    const row = (scenarioId: string, contender: string, words: string) =>
      targets.find((t) => t.scenario === scenarioId && t.contender === contender && t.target.startsWith('issue 14') && t.target.includes(words));
    expect(row('s5', 'yadl-lock', 'raw floor')).toMatchObject({ value: 0.95, pass: true });
    expect(row('s5', 'yadl-lock', 'CPU')).toMatchObject({ value: 1.2, pass: true });
    const peers = row('s5', 'yadl-lock', 'ahead');
    expect(peers?.value).toBeCloseTo(9_500 / 9_000);
    expect(peers?.detail).toContain('redis-semaphore');
    expect(row('s1', 'yadl-lock', 'lock$')?.pass).toBe(true);
    expect(row('s1', 'yadl-facade', 'RedisLock')).toMatchObject({ limit: 1.1, pass: false });
    expect(row('s7', 'yadl-lock', 'heap')?.pass).toBe(true);
    expect(row('s7', 'yadl-facade', 'heap')).toMatchObject({ limit: 2500, pass: false });
  });

  it('leaves a target unjudged when a number is missing', () => {
    const [target] = evaluateTargets([scenario('s4', { 'yadl-lock': { p50: null } })]);
    expect(target?.pass).toBeNull();
    expect(margin(null, '<=', 10)).toBe('not measured');
    expect(margin(12, '>=', 10)).toBe('20% above the minimum');
  });
});

describe('fair mode targets', () => {
  it('holds fair mode to redis-semaphore, the notified floor, the idle-waiter limits and handoffGrace + 50 ms', () => {
    const targets = evaluateTargets([
      scenario('s2', {
        'yadl-lock-fair': { cmdPerAcq: 40, sentPerAcq: 4, acqPerSec: 1200, fairness: 0.95, fairMin: 95, fairMax: 100 },
        'redis-semaphore': { cmdPerAcq: 4, sentPerAcq: 2, acqPerSec: 2000, selfRetakePct: 90 },
      }),
      scenario('s2b', { 'yadl-lock-fair': { handoffP50: 0.5 }, 'raw-notified': { handoffP50: 0.55 } }),
      scenario('s3', { 'yadl-facade-fair': { cmdPerSec: 0, sentPerSec: 0, outOfOrder: 0, allMs: 16, firstMs: 1 } }),
      scenario('s9', { 'yadl-lock-fair': { p50: 520, max: 560, graceMs: 500 } }),
    ]);
    const find = (scenarioId: string, words: string): (typeof targets)[number] | undefined =>
      targets.find((t) => t.scenario === scenarioId && t.target.includes(words));
    expect(find('s2', 'commands per acquisition')).toMatchObject({ value: 10, pass: false });
    expect(find('s2', 'acquisitions/s')).toMatchObject({ value: 0.6, pass: false });
    expect(find('s2', 'fewest')).toMatchObject({ value: 0.95, pass: true });
    const handoff = targets.filter((t) => t.scenario === 's2b');
    expect(handoff.map((t) => [t.limit, t.pass])).toEqual([
      [1, true],
      [0.8, false],
    ]);
    expect(find('s3', 'command/s')?.pass).toBe(true);
    expect(find('s3', 'arrival order')).toMatchObject({ value: 0, limit: 0, pass: true });
    expect(find('s3', '15 ms')).toMatchObject({ value: 16, pass: false });
    expect(find('s9', 'handoffGrace')).toMatchObject({ value: 560, limit: 550, pass: false });
    // The default mode's targets are not applied to the fair rows.
    expect(targets.some((t) => t.contender.endsWith('-fair') && !t.target.startsWith('fair'))).toBe(false);
  });
});

describe('compareWithPrevious', () => {
  it('judges the default mode relative to the floor of each run, so that a busier machine is not a regression', () => {
    const withMetrics = (s: ScenarioResult): ScenarioResult => ({ ...s, metrics: contended.metrics });
    const before = withMetrics(
      scenario('s2', { 'yadl-lock': { acqPerSec: 1000, handoffP50: 0.5 }, 'raw-notified': { acqPerSec: 1000, handoffP50: 0.4 } }),
    );
    // Everything twice as slow, but yadl's handoff 3x as slow as before.
    const after = withMetrics(
      scenario('s2', {
        'yadl-lock': { acqPerSec: 500, handoffP50: 1.5 },
        'yadl-lock-fair': { acqPerSec: 100 },
        'raw-notified': { acqPerSec: 500, handoffP50: 0.8 },
      }),
    );
    const previous = {
      generatedAt: 'then',
      mode: 'full',
      machine: { yadlCommit: 'abc', loadAverage: { start: [1, 1, 1], end: [1, 1, 1] } },
      scenarios: [before],
    } as unknown as BenchResults;
    const comparison = compareWithPrevious(previous, [after]);
    const row = (metric: string): (typeof comparison.rows)[number] | undefined => comparison.rows.find((r) => r.metric === metric);
    expect(comparison.rows.every((r) => r.contender === 'yadl-lock')).toBe(true);
    expect(row('acqPerSec')).toMatchObject({ before: 1000, after: 500, reference: 'raw-notified', verdict: 'same' });
    expect(row('handoffP50')?.verdict).toBe('slower');
    expect(row('handoffP50')?.worse).toBeCloseTo(0.5);
    expect(worsening(2, 1, 'higher')).toBeCloseTo(1);
    expect(worsening(1, 2, 'lower')).toBeCloseTo(1);
    expect(worsening(0, 2, 'lower')).toBeNull();
  });
});

describe('Mailbox', () => {
  it('delivers mail sent before or after the wait, in order, and times out', async () => {
    const box = new Mailbox();
    box.deliver(1, 'go', 'first');
    await expect(box.receive(1, 'go')).resolves.toBe('first');
    const later = box.receive(1, 'go');
    box.deliver(1, 'go', 'second');
    box.deliver(1, 'go', 'third');
    await expect(later).resolves.toBe('second');
    await expect(box.receive(1, 'go')).resolves.toBe('third');
    await expect(box.receive(2, 'go', 20)).rejects.toThrow(/worker 2/);
    await expect(box.receive(PARENT, 'never', 20)).rejects.toThrow(/no 'never' mail for the orchestrator/);
  });
});

describe('barChartSvg', () => {
  it('draws one bar per contender, escapes labels and shows missing values', () => {
    const svg = barChartSvg({
      title: 'a <b> & c',
      caption: 'ms',
      unit: 'ms',
      log: true,
      bars: [
        { label: 'yadl', value: 0.5, family: 'yadl' },
        { label: 'redlock', value: 200, family: 'peer' },
        { label: 'none', value: null, family: 'floor' },
      ],
      format: (v) => v.toString(),
    });
    expect(svg).toContain('a &lt;b&gt; &amp; c');
    expect(svg.match(/<rect x="290"/g)).toHaveLength(2);
    expect(svg).toContain('>n/a<');
  });
});

describe('renderMarkdown', () => {
  it("reports a ratio headline (s8: cluster ÷ single) per contender with the numbers it comes from, never divided again", () => {
    const s8: ScenarioResult = {
      ...scenario('s8', {
        'yadl-lock': { scaleOut: 1.5, clusterLocksPerSec: 15_000, singleLocksPerSec: 10_000 },
        raw: { scaleOut: 0.5, clusterLocksPerSec: 20_000, singleLocksPerSec: 40_000 },
      }),
      title: 'Cluster',
      metrics: clusterScaleOut.metrics,
      headline: clusterScaleOut.headline,
      chart: [...(clusterScaleOut.chart ?? [])],
      cluster: '3 primaries + 3 replicas',
    };
    const results: BenchResults = {
      generatedAt: '2026-01-01T00:00:00.000Z',
      mode: 'custom',
      durationS: 1,
      timing: QUICK_TIMING,
      machine: {
        cpu: 'cpu',
        cores: 2,
        memoryGiB: 1,
        os: 'os',
        loadAverage: { start: [0, 0, 0], end: [0, 0, 0] },
        node: 'v20',
        redis: '7',
        redisHz: '10',
        redisSource: 'test',
        notifyKeyspaceEvents: 'Kgx',
        packages: {},
        yadlCommit: 'abc',
      },
      clock: null,
      contenders: [],
      scenarios: [s8],
      targets: [],
    };
    const markdown = renderMarkdown(results, new Map([['s8', 'chart-s8.svg']]));
    expect(markdown).toContain(
      '- **s8 Cluster**, cluster ÷ single: yadl-lock 1.50× (1 server 10,000 → cluster 15,000 locks/s); raw 0.50× (1 server 40,000 → cluster 20,000 locks/s)',
    );
    expect(markdown).toContain('| yadl-lock | 1.50× | 15,000 | 10,000 |');
    expect(markdown).toContain('Redis Cluster: 3 primaries + 3 replicas.');
    expect(markdown).not.toContain('Ratios on cluster ÷ single');
  });
});
