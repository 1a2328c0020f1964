import { electionTargets } from './election-targets';
import type { ContenderResult, ScenarioResult, TargetResult } from './results';

const YADL = ['yadl-lock', 'yadl-facade'] as const;
/** yadl's fair mode (`fair: true`): the targets of its FIFO line. */
const FAIR = ['yadl-lock-fair', 'yadl-facade-fair'] as const;
/** The peer fair mode's commands and throughput are held against, at its defaults. */
const FAIR_PEER = 'redis-semaphore';
/** Scenario 9: how much later than the handoffGrace the next waiter may acquire. */
const DEAD_HEAD_SLACK_MS = 50;
/** The polling peers at their default settings. */
const DEFAULT_PEERS = ['redlock', 'sesame', 'redis-semaphore'] as const;

type Lookup = (scenario: string, contender: string, metric: string) => number | null;

function lookupIn(scenarios: readonly ScenarioResult[]): Lookup {
  return (scenario, contender, metric) => {
    const s = scenarios.find((x) => x.id === scenario);
    const c: ContenderResult | undefined = s?.contenders.find((x) => x.id === contender);
    const value = c?.median[metric];
    return typeof value === 'number' && Number.isFinite(value) ? value : null;
  };
}

const pct = (x: number): string => `${(x * 100).toFixed(x < 0.1 ? 1 : 0)}%`;
const times = (x: number): string => `${x >= 10 ? x.toFixed(0) : x.toFixed(2)}×`;

/** How far from the limit, in words. */
export function margin(value: number | null, comparison: TargetResult['comparison'], limit: number): string {
  if (value === null) return 'not measured';
  if (limit === 0) return '';
  const r = value / limit;
  if (comparison === '>=') return r >= 1 ? `${pct(r - 1)} above the minimum` : `${pct(1 - r)} short (${times(r)} of the minimum)`;
  return r <= 1 ? `${pct(1 - r)} under the limit` : `${times(r)} the limit (${pct(r - 1)} over)`;
}

function verdict(value: number | null, comparison: TargetResult['comparison'], limit: number): boolean | null {
  if (value === null) return null;
  if (comparison === '<=') return value <= limit;
  if (comparison === '<') return value < limit;
  return value >= limit;
}

function make(
  base: Omit<TargetResult, 'pass' | 'margin'>,
): TargetResult {
  return { ...base, pass: verdict(base.value, base.comparison, base.limit), margin: margin(base.value, base.comparison, base.limit) };
}

const fmt = (x: number | null, digits = 3): string => (x === null ? 'n/a' : `${x.toPrecision(digits)} ms`);

/** The targets, evaluated on the medians of this run (only where the scenario ran). */
export function evaluateTargets(scenarios: readonly ScenarioResult[]): TargetResult[] {
  const get = lookupIn(scenarios);
  const ran = (id: string): boolean => scenarios.some((s) => s.id === id && s.skipped === undefined && s.contenders.length > 0);
  const targets: TargetResult[] = [];
  const has = (scenario: string, contender: string): boolean =>
    scenarios.some((s) => s.id === scenario && s.contenders.some((c) => c.id === contender));

  for (const [scenario, metric, what] of [
    ['s2b', 'handoffP50', 'ping-pong handoff'],
    ['s2', 'handoffP50', 'waiter handoff (4 processes)'],
  ] as const) {
    if (!ran(scenario)) continue;
    for (const yadl of YADL.filter((y) => has(scenario, y))) {
      const mine = get(scenario, yadl, metric);
      const floor = get(scenario, 'raw-notified', metric);
      targets.push(
        make({
          target: `${what}: p50 ≤ 1.5 × the notified raw lock's`,
          scenario,
          contender: yadl,
          value: mine !== null && floor !== null ? mine / floor : null,
          unit: '× floor',
          comparison: '<=',
          limit: 1.5,
          detail: `yadl ${fmt(mine)} vs floor ${fmt(floor)}`,
        }),
      );
      const peers = DEFAULT_PEERS.filter((p) => has(scenario, p)).map((p) => ({ p, v: get(scenario, p, metric) }));
      const measured = peers.filter((x): x is { p: (typeof DEFAULT_PEERS)[number]; v: number } => x.v !== null);
      const closest = measured.sort((a, b) => a.v - b.v)[0];
      const missing = peers.filter((x) => x.v === null).map((x) => x.p);
      if (peers.length > 0) {
        targets.push(
          make({
            target: `${what}: p50 ≥ 5× lower than every polling peer at defaults`,
            scenario,
            contender: yadl,
            value: mine !== null && closest !== undefined && missing.length === 0 ? closest.v / mine : null,
            unit: '× lower',
            comparison: '>=',
            limit: 5,
            detail:
              closest === undefined
                ? 'no peer measured'
                : `closest peer ${closest.p} ${fmt(closest.v)} vs yadl ${fmt(mine)}` +
                  (missing.length > 0 ? `; no handoffs measured for ${missing.join(', ')}` : '') +
                  (scenario === 's2' ? "; a poller's handoffs here are only its retries that landed just after a release" : ''),
          }),
        );
      }
    }
  }

  if (ran('s3')) {
    for (const yadl of YADL.filter((y) => has('s3', y))) {
      targets.push(
        make({
          target: 'idle waiters: < 1 Redis command/s for all 50 together while the lock is held',
          scenario: 's3',
          contender: yadl,
          value: get('s3', yadl, 'cmdPerSec'),
          unit: 'cmd/s',
          comparison: '<',
          limit: 1,
          detail: `INFO commandstats; commands sent by the clients: ${get('s3', yadl, 'sentPerSec')?.toFixed(2) ?? 'n/a'}/s`,
        }),
        make({
          target: 'idle waiters: all 50 served one after another < 20 ms after the release',
          scenario: 's3',
          contender: yadl,
          value: get('s3', yadl, 'allMs'),
          unit: 'ms',
          comparison: '<',
          limit: 20,
          detail: `first served after ${fmt(get('s3', yadl, 'firstMs'))}`,
        }),
      );
    }
  }

  if (ran('s4') && has('s4', 'yadl-lock')) {
    targets.push(
      make({
        target: 'expiry handoff: next holder acquires ≤ 10 ms (p50) after the lease ends',
        scenario: 's4',
        contender: 'yadl-lock',
        value: get('s4', 'yadl-lock', 'p50'),
        unit: 'ms',
        comparison: '<=',
        limit: 10,
        detail: `max ${fmt(get('s4', 'yadl-lock', 'max'))}`,
      }),
    );
  }

  if (ran('s1')) {
    for (const yadl of YADL.filter((y) => has('s1', y))) {
      const mine = get('s1', yadl, 'p50');
      const floor = get('s1', 'raw', 'p50');
      targets.push(
        make({
          target: 'uncontended acquire + release ≤ 1.25 × the raw SET NX + Lua release floor (pair p50)',
          scenario: 's1',
          contender: yadl,
          value: mine !== null && floor !== null ? mine / floor : null,
          unit: '× floor',
          comparison: '<=',
          limit: 1.25,
          detail: `yadl ${fmt(mine)} vs floor ${fmt(floor)} per pair`,
        }),
      );
    }
  }

  if (ran('s5')) {
    for (const yadl of YADL.filter((y) => has('s5', y))) {
      const mine = get('s5', yadl, 'locksPerSec');
      const floor = get('s5', 'raw', 'locksPerSec');
      targets.push(
        make({
          target: "1000 names at once: ≥ 0.8 × the raw floor's locks/s",
          scenario: 's5',
          contender: yadl,
          value: mine !== null && floor !== null ? mine / floor : null,
          unit: '× floor',
          comparison: '>=',
          limit: 0.8,
          detail: `yadl ${mine?.toFixed(0) ?? 'n/a'} vs floor ${floor?.toFixed(0) ?? 'n/a'} locks/s`,
        }),
      );
    }
  }

  if (ran('s7')) {
    for (const yadl of YADL.filter((y) => has('s7', y))) {
      targets.push(
        make({
          target: '10 000 waiters: ≤ 2 Redis connections',
          scenario: 's7',
          contender: yadl,
          value: get('s7', yadl, 'connections'),
          unit: 'connections',
          comparison: '<=',
          limit: 2,
          detail: 'CLIENT LIST entries named for the waiting process',
        }),
        make({
          target: '10 000 waiters: < 3 KB of memory per waiter',
          scenario: 's7',
          contender: yadl,
          value: get('s7', yadl, 'bytesPerWaiter'),
          unit: 'B',
          comparison: '<',
          limit: 3072,
          detail: `heapUsed after GC; async-mutex floor ${get('s7', 'async-mutex', 'bytesPerWaiter')?.toFixed(0) ?? 'n/a'} B`,
        }),
      );
    }
  }
  targets.push(...fairTargets(scenarios));
  targets.push(...shardedWakeTargets(scenarios));
  targets.push(...semaphoreTargets(scenarios));
  targets.push(...electionTargets(scenarios, make));
  targets.push(...hotPathTargets(scenarios));
  return targets;
}

/** The peers yadl must be ahead of with 1000 names at once (issue 14). */
const MANY_NAMES_PEERS = ['redlock', 'redis-semaphore'] as const;

/** Issue 14, the hot path: 1000 names at once, the uncontended pair, heap per waiter. */
function hotPathTargets(scenarios: readonly ScenarioResult[]): TargetResult[] {
  const get = lookupIn(scenarios);
  const has = (scenario: string, contender: string): boolean =>
    scenarios.some((s) => s.id === scenario && s.skipped === undefined && s.contenders.some((c) => c.id === contender));
  const ratio = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b !== 0 ? a / b : null);
  const targets: TargetResult[] = [];

  for (const yadl of YADL.filter((y) => has('s5', y))) {
    const rate = get('s5', yadl, 'locksPerSec');
    const floorRate = get('s5', 'raw', 'locksPerSec');
    const cpu = get('s5', yadl, 'clientCpuUs');
    const floorCpu = get('s5', 'raw', 'clientCpuUs');
    targets.push(
      make({
        target: "issue 14, 1000 names at once: ≥ 0.9 × the raw floor's locks/s",
        scenario: 's5',
        contender: yadl,
        value: ratio(rate, floorRate),
        unit: '× floor',
        comparison: '>=',
        limit: 0.9,
        detail: `yadl ${rate?.toFixed(0) ?? 'n/a'} vs floor ${floorRate?.toFixed(0) ?? 'n/a'} locks/s`,
      }),
      make({
        target: "issue 14, 1000 names at once: client CPU per lock ≤ 1.3 × the raw floor's",
        scenario: 's5',
        contender: yadl,
        value: ratio(cpu, floorCpu),
        unit: '× floor',
        comparison: '<=',
        limit: 1.3,
        detail: `yadl ${cpu?.toFixed(1) ?? 'n/a'} µs vs floor ${floorCpu?.toFixed(1) ?? 'n/a'} µs per lock (Redis CPU per lock: yadl ${get('s5', yadl, 'redisCpuUs')?.toFixed(1) ?? 'n/a'} µs, floor ${get('s5', 'raw', 'redisCpuUs')?.toFixed(1) ?? 'n/a'} µs)`,
      }),
    );
    const peers = MANY_NAMES_PEERS.filter((p) => has('s5', p)).map((p) => ({ p, v: get('s5', p, 'locksPerSec') }));
    const best = peers.filter((x): x is { p: (typeof MANY_NAMES_PEERS)[number]; v: number } => x.v !== null).sort((a, b) => b.v - a.v)[0];
    if (peers.length > 0) {
      targets.push(
        make({
          target: `issue 14, 1000 names at once: locks/s ahead of ${MANY_NAMES_PEERS.join(' and ')}`,
          scenario: 's5',
          contender: yadl,
          value: best === undefined || peers.some((x) => x.v === null) ? null : ratio(rate, best.v),
          unit: '× best peer',
          comparison: '>=',
          limit: 1,
          detail: best === undefined ? 'no peer measured' : `best peer ${best.p} ${best.v.toFixed(0)} vs yadl ${rate?.toFixed(0) ?? 'n/a'} locks/s`,
        }),
      );
    }
  }

  for (const [yadl, limit, what] of [
    ['yadl-facade', 1.1, 'RedisLock acquire + awaited release'],
    ['yadl-lock', 0.9, 'lock$ acquire + release (released by unsubscribe)'],
  ] as const) {
    if (!has('s1', yadl)) continue;
    const mine = get('s1', yadl, 'p50');
    const floor = get('s1', 'raw', 'p50');
    targets.push(
      make({
        target: `issue 14, uncontended ${what}: pair p50 ≤ ${limit} × the raw floor`,
        scenario: 's1',
        contender: yadl,
        value: ratio(mine, floor),
        unit: '× floor',
        comparison: '<=',
        limit,
        detail: `yadl ${fmt(mine)} vs floor ${fmt(floor)} per pair; client CPU per pair ${get('s1', yadl, 'clientCpuUs')?.toFixed(0) ?? 'n/a'} µs vs ${get('s1', 'raw', 'clientCpuUs')?.toFixed(0) ?? 'n/a'} µs`,
      }),
    );
  }

  for (const [yadl, limit] of [
    ['yadl-lock', 2000],
    ['yadl-facade', 2500],
  ] as const) {
    if (!has('s7', yadl)) continue;
    targets.push(
      make({
        target: `issue 14, 10 000 waiters: < ${limit} B of heap per waiter`,
        scenario: 's7',
        contender: yadl,
        value: get('s7', yadl, 'bytesPerWaiter'),
        unit: 'B',
        comparison: '<',
        limit,
        detail: `heapUsed after GC; async-mutex floor ${get('s7', 'async-mutex', 'bytesPerWaiter')?.toFixed(0) ?? 'n/a'} B`,
      }),
    );
  }
  return targets;
}

/** Fair mode's targets: commands, throughput and fairness under contention, handoff, idle waiters in order, a dead head. */
function fairTargets(scenarios: readonly ScenarioResult[]): TargetResult[] {
  const get = lookupIn(scenarios);
  const has = (scenario: string, contender: string): boolean =>
    scenarios.some((s) => s.id === scenario && s.skipped === undefined && s.contenders.some((c) => c.id === contender));
  const ratio = (a: number | null, b: number | null): number | null => (a !== null && b !== null && b !== 0 ? a / b : null);
  const targets: TargetResult[] = [];

  for (const fair of FAIR.filter((f) => has('s2', f))) {
    const peer = has('s2', FAIR_PEER);
    const cmd = get('s2', fair, 'cmdPerAcq');
    const peerCmd = get('s2', FAIR_PEER, 'cmdPerAcq');
    const rate = get('s2', fair, 'acqPerSec');
    const peerRate = get('s2', FAIR_PEER, 'acqPerSec');
    if (peer) {
      targets.push(
        make({
          target: `fair, 4 processes contending: Redis commands per acquisition (commandstats) ≤ ${FAIR_PEER}'s at its defaults`,
          scenario: 's2',
          contender: fair,
          value: ratio(cmd, peerCmd),
          unit: `× ${FAIR_PEER}`,
          comparison: '<=',
          limit: 1,
          detail: `fair ${cmd?.toFixed(2) ?? 'n/a'} vs ${FAIR_PEER} ${peerCmd?.toFixed(2) ?? 'n/a'} commands/acquisition (commands sent: ${get('s2', fair, 'sentPerAcq')?.toFixed(2) ?? 'n/a'} vs ${get('s2', FAIR_PEER, 'sentPerAcq')?.toFixed(2) ?? 'n/a'})`,
        }),
        make({
          target: `fair, 4 processes contending: acquisitions/s ≥ ${FAIR_PEER}'s at its defaults`,
          scenario: 's2',
          contender: fair,
          value: ratio(rate, peerRate),
          unit: `× ${FAIR_PEER}`,
          comparison: '>=',
          limit: 1,
          detail: `fair ${rate?.toFixed(0) ?? 'n/a'} vs ${FAIR_PEER} ${peerRate?.toFixed(0) ?? 'n/a'} acq/s (${FAIR_PEER} self re-takes ${get('s2', FAIR_PEER, 'selfRetakePct')?.toFixed(1) ?? 'n/a'}%)`,
        }),
      );
    }
    targets.push(
      make({
        target: 'fair, 4 processes contending: fewest ÷ most acquisitions per worker ≥ 0.9',
        scenario: 's2',
        contender: fair,
        value: get('s2', fair, 'fairness'),
        unit: '× (fewest ÷ most)',
        comparison: '>=',
        limit: 0.9,
        detail: `fewest ${get('s2', fair, 'fairMin') ?? 'n/a'}, most ${get('s2', fair, 'fairMax') ?? 'n/a'} acquisitions of one worker`,
      }),
    );
  }

  for (const fair of FAIR.filter((f) => has('s2b', f))) {
    if (!has('s2b', 'raw-notified')) continue;
    const mine = get('s2b', fair, 'handoffP50');
    const floor = get('s2b', 'raw-notified', 'handoffP50');
    for (const [limit, what] of [
      [1, 'target'],
      [0.8, 'goal'],
    ] as const) {
      targets.push(
        make({
          target: `fair, ping-pong handoff (${what}): p50 ≤ ${limit.toFixed(1)} × the notified raw lock's`,
          scenario: 's2b',
          contender: fair,
          value: ratio(mine, floor),
          unit: '× floor',
          comparison: '<=',
          limit,
          detail: `fair ${fmt(mine)} vs floor ${fmt(floor)}; yadl lock$ (not fair) ${fmt(get('s2b', 'yadl-lock', 'handoffP50'))}`,
        }),
      );
    }
  }

  for (const fair of FAIR.filter((f) => has('s3', f))) {
    targets.push(
      make({
        target: 'fair, 50 idle waiters in 3 processes: < 1 Redis command/s while the lock is held',
        scenario: 's3',
        contender: fair,
        value: get('s3', fair, 'cmdPerSec'),
        unit: 'cmd/s',
        comparison: '<',
        limit: 1,
        detail: `INFO commandstats; commands sent by the clients: ${get('s3', fair, 'sentPerSec')?.toFixed(2) ?? 'n/a'}/s`,
      }),
      make({
        target: 'fair, 50 idle waiters in 3 processes: all served in arrival order',
        scenario: 's3',
        contender: fair,
        value: get('s3', fair, 'outOfOrder'),
        unit: 'waiters out of order',
        comparison: '<=',
        limit: 0,
        detail: 'waiters started one at a time, round-robin over the processes; served order = fence order',
      }),
      make({
        target: 'fair, 50 idle waiters in 3 processes: the last served < 15 ms after the release',
        scenario: 's3',
        contender: fair,
        value: get('s3', fair, 'allMs'),
        unit: 'ms',
        comparison: '<',
        limit: 15,
        detail: `release to the 50th acquisition, every handoff to another process; first served after ${fmt(get('s3', fair, 'firstMs'))}`,
      }),
    );
  }

  for (const fair of FAIR.filter((f) => has('s9', f))) {
    const grace = get('s9', fair, 'graceMs');
    targets.push(
      make({
        target: `fair, head waiter's process killed: the next waiter acquires ≤ handoffGrace + ${DEAD_HEAD_SLACK_MS} ms after the release (every sample)`,
        scenario: 's9',
        contender: fair,
        value: grace === null ? null : get('s9', fair, 'max'),
        unit: 'ms',
        comparison: '<=',
        limit: (grace ?? 0) + DEAD_HEAD_SLACK_MS,
        detail: `handoffGrace ${fmt(grace)}; p50 ${fmt(get('s9', fair, 'p50'))}, max ${fmt(get('s9', fair, 'max'))}`,
      }),
    );
  }
  if (has('s11', 'yadl-lock') && has('s11', 'redlock')) {
    const mine = get('s11', 'yadl-lock', 'locksPerSec');
    const peer = get('s11', 'redlock', 'locksPerSec');
    targets.push(
      make({
        target: "multi-lock of 3 random names of 50, 4 processes: locks/s >= 1.0x node-redlock's multi-resource acquire at its defaults",
        scenario: 's11',
        contender: 'yadl-lock',
        value: ratio(mine, peer),
        unit: '× redlock',
        comparison: '>=',
        limit: 1,
        detail: `lockAll$ ${mine?.toFixed(0) ?? 'n/a'} locks/s vs redlock ${peer?.toFixed(0) ?? 'n/a'} locks/s`,
      }),
    );
  }
  return targets;
}

/** Issue 14: on a Redis >= 7 Cluster, release wake-ups cross the bus to the slot's shard only (SPUBLISH), never as PUBLISH. */
function shardedWakeTargets(scenarios: readonly ScenarioResult[]): TargetResult[] {
  const get = lookupIn(scenarios);
  const has = (scenario: string, contender: string): boolean =>
    scenarios.some((s) => s.id === scenario && s.skipped === undefined && s.contenders.some((c) => c.id === contender));
  return YADL.filter((yadl) => has('s8', yadl)).map((yadl) =>
    make({
      target: 'Cluster (Redis >= 7): plain PUBLISH messages over the cluster bus per release = 0 (wake-ups on sharded pub/sub)',
      scenario: 's8',
      contender: yadl,
      value: get('s8', yadl, 'busPublishPerRelease'),
      unit: 'messages',
      comparison: '<=',
      limit: 0,
      detail: `CLUSTER INFO, all nodes: SPUBLISH ${get('s8', yadl, 'busShardPerRelease')?.toFixed(2) ?? 'n/a'} messages/release (to the slot's replicas); a plain PUBLISH costs one per other node (5 on 3+3)`,
    }),
  );
}

/** Scenario 10 (issue 11): yadl's semaphore against redis-semaphore's Semaphore and the notified raw lock floor. */
function semaphoreTargets(scenarios: readonly ScenarioResult[]): TargetResult[] {
  const get = lookupIn(scenarios);
  const s = scenarios.find((x) => x.id === 's10' && x.skipped === undefined);
  const yadl = 'yadl-semaphore';
  if (s === undefined || !s.contenders.some((c) => c.id === yadl)) return [];
  const targets: TargetResult[] = [];
  for (const peer of ['redis-semaphore-sem', 'redis-semaphore-sem-fast'].filter((p) => s.contenders.some((c) => c.id === p))) {
    const mine = get('s10', yadl, 'acqPerSec');
    const theirs = get('s10', peer, 'acqPerSec');
    const myCmds = get('s10', yadl, 'cmdPerAcq');
    const theirCmds = get('s10', peer, 'cmdPerAcq');
    targets.push(
      make({
        target: `semaphore: acquisitions/s ≥ 1.0 × ${peer}'s`,
        scenario: 's10',
        contender: yadl,
        value: mine !== null && theirs !== null && theirs > 0 ? mine / theirs : null,
        unit: '×',
        comparison: '>=',
        limit: 1,
        detail: `yadl ${mine?.toFixed(0) ?? 'n/a'} vs ${theirs?.toFixed(0) ?? 'n/a'} acq/s`,
      }),
      make({
        target: `semaphore: Redis commands per acquisition ≤ ${peer}'s`,
        scenario: 's10',
        contender: yadl,
        value: myCmds,
        unit: 'cmd',
        comparison: '<=',
        limit: theirCmds ?? 0,
        detail: `yadl ${myCmds?.toFixed(1) ?? 'n/a'} vs ${theirCmds?.toFixed(1) ?? 'n/a'} (INFO commandstats)`,
      }),
    );
  }
  const mine = get('s10', yadl, 'handoffP50');
  const floor = get('s10', 'raw-notified', 'handoffP50');
  targets.push(
    make({
      target: 'semaphore: idle waiters < 1 command/s (all 20 together)',
      scenario: 's10',
      contender: yadl,
      value: get('s10', yadl, 'idleCmdPerSec'),
      unit: 'cmd/s',
      comparison: '<',
      limit: 1,
      detail: 'INFO commandstats over the idle window',
    }),
    make({
      target: "semaphore: release-to-next-grant p50 ≤ 1.5 × the notified raw lock's",
      scenario: 's10',
      contender: yadl,
      value: mine !== null && floor !== null ? mine / floor : null,
      unit: '× floor',
      comparison: '<=',
      limit: 1.5,
      detail: `yadl ${fmt(mine)} vs floor ${fmt(floor)}`,
    }),
  );
  return targets;
}
