import type { ScenarioResult, TargetResult } from './results';

/** How much later than the lease a killed leader may be replaced. */
const KILL_SLACK_MS = 10;
const RESIGN_P50_MS = 2;
const IDLE_CMD_PER_S = 1;

/** Scenario 12's targets for yadl's elect$ (issue 12), on the medians of this run. */
export function electionTargets(
  scenarios: readonly ScenarioResult[],
  make: (base: Omit<TargetResult, 'pass' | 'margin'>) => TargetResult,
): TargetResult[] {
  const run = scenarios.find((s) => s.id === 's12' && s.skipped === undefined);
  const yadl = run?.contenders.find((c) => c.id === 'yadl-election');
  if (yadl === undefined) return [];
  const get = (metric: string): number | null => {
    const value = yadl.median[metric];
    return typeof value === 'number' && Number.isFinite(value) ? value : null;
  };
  const peers = (metric: string): string =>
    (run?.contenders ?? [])
      .filter((c) => c.id !== 'yadl-election')
      .map((c) => `${c.id} ${String(c.median[metric] ?? 'n/a')}`)
      .join(', ');
  const lease = get('leaseMs') ?? 0;
  const base = { scenario: 's12', contender: 'yadl-election' };
  return [
    make({
      ...base,
      target: `leader killed (SIGKILL): the next leader ≤ lease + ${KILL_SLACK_MS} ms after the kill (max)`,
      value: get('killMax'),
      unit: 'ms',
      comparison: '<=',
      limit: lease + KILL_SLACK_MS,
      detail: `lease ${lease} ms; p50 ${get('killP50') ?? 'n/a'} ms; peers' max: ${peers('killMax')}`,
    }),
    make({
      ...base,
      target: `resign: the next leader (another process) within ${RESIGN_P50_MS} ms, p50`,
      value: get('resignP50'),
      unit: 'ms',
      comparison: '<=',
      limit: RESIGN_P50_MS,
      detail: `max ${get('resignMax') ?? 'n/a'} ms; peers' p50: ${peers('resignP50')}`,
    }),
    make({
      ...base,
      target: `idle followers: < ${IDLE_CMD_PER_S} command/s together`,
      value: get('idleCmdPerS'),
      unit: 'cmd/s',
      comparison: '<',
      limit: IDLE_CMD_PER_S,
      detail: `lease ${lease} ms; peers: ${peers('idleCmdPerS')}`,
    }),
  ];
}
