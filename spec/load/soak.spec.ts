/**
 * The soak: 5 processes x 200 actors over 20 names for SOAK_MS (default
 * 30 s), through lock$ and the facade, in exclusive, write and read modes,
 * with random holds (0-5 ms), timeouts and cancellations (see
 * spec/support/fault-workers/soak.ts). Afterwards:
 * - every name's non-atomic counter equals the increments the processes made;
 * - no two write holds of a name overlap, and no write overlaps a read, on a
 *   clock every process shares; write fences increase in hold order;
 * - read holds saw no change of the counter during their hold;
 * - no name is left idle (held by nobody) for seconds while actors ask for it;
 * - Redis keeps no lock state, only fence counters, which expire;
 * - no keyspace channel is subscribed any more;
 * - every process exits by itself within a few seconds after finishing.
 * SOAK_MS=20000 shortens it; SOAK_KEEP=1 keeps the processes' records (a
 * yadl-soak-* folder in the temp directory) for a closer look.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import type { WorkerProcess } from '../support/workers/spawn-worker';
import { eventually, sleep, useFaultKit, within } from '../faults/fault-kit';

const kit = useFaultKit();
const PROCESSES = 5;
const ACTORS = 200;
const NAMES = 20;
const SOAK_MS = Number(process.env.SOAK_MS ?? 30_000);
const PREFIX = 'soak';
const dir = mkdtempSync(path.join(tmpdir(), 'yadl-soak-'));
afterAll(() => {
  if (!process.env.SOAK_KEEP) rmSync(dir, { recursive: true, force: true });
});

interface Records {
  increments: number[];
  writes: [number, number, number, number][];
  reads: [number, number, number][];
  unexpected: string[];
  waits: number[];
}

describe('soak', () => {
  it(
    `${PROCESSES} processes x ${ACTORS} actors over ${NAMES} names for ${SOAK_MS} ms: exact counters, no overlap, nothing left behind`,
    async () => {
      const server = await kit.server();
      const admin = kit.admin(server.url);
      const env = { REDIS_URL: server.url, PREFIX, NAMES: String(NAMES), ACTORS: String(ACTORS), SOAK_MS: String(SOAK_MS) };
      const workers: WorkerProcess[] = Array.from({ length: PROCESSES }, (_, i) =>
        kit.worker('soak.ts', { ...env, OUT: path.join(dir, `out-${i}.json`) }),
      );
      const reports = await within(
        Promise.all(workers.map((w) => w.message((m) => m.done === true, SOAK_MS + 60_000))),
        SOAK_MS + 60_000,
        'the soak processes',
      );
      const doneAt = Math.max(...reports.map((r) => r.at as number));

      // Channels linger 500 ms after their last waiter; then none is left.
      await eventually(async () => ((await admin.call('PUBSUB', 'CHANNELS', '__keyspace*')) as string[]).length === 0, 3_000, 'no keyspace channel subscribed');
      const channels = (await admin.call('PUBSUB', 'NUMSUB', ...Array.from({ length: NAMES }, (_, n) => `__keyspace@0__:${PREFIX}:lock:{n${n}}`))) as (string | number)[];
      expect(channels.filter((_, i) => i % 2 === 1).map(Number)).toEqual(Array.from({ length: NAMES }, () => 0));

      const exits = await within(Promise.all(workers.map((w) => w.exited)), 10_000, 'the processes exiting by themselves');
      const exitedAfter = Number(process.hrtime.bigint()) / 1e6 - doneAt; // the workers' clock
      expect(exits).toEqual(workers.map(() => ({ code: 0, signal: null })));
      expect(exitedAfter).toBeLessThan(5_000);

      const records: Records[] = workers.map((_, i) => JSON.parse(readFileSync(path.join(dir, `out-${i}.json`), 'utf8')) as Records);
      const total = (key: string): number => reports.reduce((sum, r) => sum + Number(r[key]), 0);
      const summary = ['holds', 'writes', 'reads', 'timeouts', 'cancelledWaiting', 'cancelledHolding', 'stopped', 'lost', 'readMismatches', 'unexpected']
        .map((key) => `${key} ${total(key)}`)
        .join(', ');
      const waits = records.flatMap((r) => r.waits).sort((a, b) => a - b);
      console.log(
        `[soak ${SOAK_MS} ms] ${summary}; wait p50 ${waits[Math.floor(waits.length / 2)]?.toFixed(1)} ms, ` +
          `max ${waits.at(-1)?.toFixed(0)} ms; processes exited ${exitedAfter.toFixed(0)} ms after the last finished`,
      );

      // Errors other than timeouts and cancellations.
      const unexpected = records.flatMap((r) => r.unexpected);
      expect.soft(unexpected.slice(0, 5), `${unexpected.length} unexpected errors`).toEqual([]);
      expect.soft(total('lost'), 'holds lost during the soak').toBe(0);
      expect.soft(total('readMismatches'), 'reads that saw the counter change').toBe(0);

      // The soak did what it says.
      expect(total('writes')).toBeGreaterThan(500);
      expect(total('reads')).toBeGreaterThan(50);
      expect(total('timeouts')).toBeGreaterThan(0);
      expect(total('cancelledWaiting') + total('cancelledHolding')).toBeGreaterThan(0);

      let idle = 0;
      for (let name = 0; name < NAMES; name++) {
        const increments = records.reduce((sum, r) => sum + (r.increments[name] ?? 0), 0);
        expect.soft(Number((await admin.get(`${PREFIX}-counter:n${name}`)) ?? '0'), `counter of n${name}`).toBe(increments);
        const writes = records.flatMap((r) => r.writes.filter((w) => w[0] === name)).sort((a, b) => a[2] - b[2]);
        const overlaps = writes.filter((w, i) => i > 0 && w[2] < writes[i - 1]![3]);
        expect.soft(overlaps.length, `overlapping write holds of n${name}`).toBe(0);
        const backwards = writes.filter((w, i) => i > 0 && w[1] <= writes[i - 1]![1]);
        expect.soft(backwards.length, `write fences of n${name} not increasing in hold order`).toBe(0);
        const reads = records.flatMap((r) => r.reads.filter((x) => x[0] === name));
        expect.soft(reads.filter((read) => overlapsAWrite(read, writes)).length, `reads of n${name} overlapping a write`).toBe(0);
        // Liveness: with ~50 actors per name always asking, a name is never left idle for long.
        const holds = [...writes.map((w) => [w[2], w[3]]), ...reads.map((r) => [r[1], r[2]])].sort((a, b) => a[0]! - b[0]!);
        let lastEnd = holds[0]?.[1] ?? 0;
        for (const [start, end] of holds) {
          idle = Math.max(idle, start! - lastEnd);
          lastEnd = Math.max(lastEnd, end!);
        }
      }
      expect.soft(idle, 'the longest time a name was held by nobody, ms').toBeLessThan(3_000);

      // Only fence counters are left, and they expire.
      await sleep(100);
      const keys = (await admin.keys(`${PREFIX}:*`)).sort();
      expect(keys.filter((k) => !k.endsWith(':fence'))).toEqual([]);
      for (const key of keys) expect(await admin.pttl(key)).toBeGreaterThan(0);
    },
    SOAK_MS + 90_000,
  );
});

/** Whether a read [name, start, end] overlaps one of the name's disjoint write holds, sorted by start. */
function overlapsAWrite(read: [number, number, number], writes: [number, number, number, number][]): boolean {
  const [, start, end] = read;
  // The last write that started before the read ended has the latest end of all those (they are disjoint).
  let lo = 0;
  let hi = writes.length - 1;
  let last = -1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (writes[mid]![2] < end) {
      last = mid;
      lo = mid + 1;
    } else {
      hi = mid - 1;
    }
  }
  return last >= 0 && writes[last]![3] > start;
}
