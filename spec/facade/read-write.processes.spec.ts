/**
 * Read/write locks across processes: two readers and two writers, each a
 * child process (spec/support/rw-workers/rw-worker.ts) with its own
 * connection, on one name. Each records its held intervals on the machine's
 * monotonic clock (the same in every process); no write interval may overlap
 * any other, and readers of different processes must have shared the lock.
 * (Four processes: each takes ~1.3 s of CPU to load TypeScript through tsx,
 * and the CI machine has two cores.)
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { readOverlaps, stateGone, writeOverlaps, type Interval } from './read-write-model';

const WORKER = fileURLToPath(new URL('../support/rw-workers/rw-worker.ts', import.meta.url));
const NAME = 'rw-processes';

const redis = useRedis();
let timers = 0;
let children: ChildProcess[] = [];
beforeEach(() => {
  timers = activeTimers();
  children = [];
});
afterEach(async () => {
  for (const child of children) if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  await expectQuiescent(timers);
});

interface Worker {
  readonly who: string;
  readonly mode: 'read' | 'write';
  readonly child: ChildProcess;
  /** Resolves with the first JSON line that has `key`. */
  line(key: string, withinMs: number): Promise<Record<string, unknown>>;
}

function startWorker(who: string, mode: 'read' | 'write', env: Record<string, string>): Worker {
  const child = spawn(process.execPath, ['--import', 'tsx', WORKER], {
    env: { ...process.env, ...env, MODE: mode },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  children.push(child);
  const lines: Record<string, unknown>[] = [];
  let buffered = '';
  let stderr = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buffered += chunk;
    for (let nl = buffered.indexOf('\n'); nl >= 0; nl = buffered.indexOf('\n')) {
      const text = buffered.slice(0, nl).trim();
      buffered = buffered.slice(nl + 1);
      if (text.startsWith('{')) lines.push(JSON.parse(text) as Record<string, unknown>);
    }
  });
  child.stderr?.on('data', (chunk: Buffer) => (stderr += chunk.toString('utf8')));
  const line = async (key: string, withinMs: number): Promise<Record<string, unknown>> => {
    const until = performance.now() + withinMs;
    for (;;) {
      const found = lines.find((l) => key in l || 'error' in l);
      if (found !== undefined) {
        if (!(key in found)) throw new Error(`${who}: ${String(found.error)}\n${stderr}`);
        return found;
      }
      if (child.exitCode !== null || performance.now() > until) throw new Error(`${who}: no "${key}" line (exit ${child.exitCode})\n${stderr}`);
      await new Promise((resolve) => setTimeout(resolve, 20));
    }
  };
  return { who, mode, child, line };
}

describe('read/write locks across processes', () => {
  it('2 reader and 2 writer processes: no write interval overlaps another, and readers shared the lock', async () => {
    const prefix = redis.prefix();
    const common = { REDIS_URL: redis.url, PREFIX: prefix, NAME };
    const readers = [1, 2].map((k) => startWorker(`reader${k}`, 'read', { ...common, ROUNDS: '25', HOLD_MS: '10-30', GAP_MS: '0-10' }));
    const writers = [1, 2].map((k) => startWorker(`writer${k}`, 'write', { ...common, ROUNDS: '8', HOLD_MS: '5-10', GAP_MS: '30-60' }));
    const workers = [...readers, ...writers];
    await Promise.all(workers.map((w) => w.line('ready', 20_000)));
    for (const w of workers) w.child.stdin?.end('go\n');
    const reports = await Promise.all(workers.map((w) => w.line('intervals', 15_000)));
    const intervals: Interval[] = reports.flatMap((report, k) => {
      const { who, mode } = workers[k] as Worker;
      return (report.intervals as Array<{ start: number; end: number }>).map(({ start, end }) => ({ who, mode, start, end }));
    });
    expect(intervals.filter((i) => i.mode === 'read')).toHaveLength(2 * 25);
    expect(intervals.filter((i) => i.mode === 'write')).toHaveLength(2 * 8);
    expect(writeOverlaps(intervals), 'write intervals overlapping others').toEqual([]);
    const shared = readOverlaps(intervals);
    expect(shared, 'pairs of overlapping read intervals of different processes').toBeGreaterThan(0);
    const exits = await Promise.all(workers.map((w) => (w.child.exitCode !== null ? w.child.exitCode : new Promise((r) => w.child.once('exit', r)))));
    expect(exits).toEqual(workers.map(() => 0));
    const admin = redis.client();
    expect(await stateGone(admin, prefix, NAME)).toEqual({});
    const span = Math.max(...intervals.map((i) => i.end)) - Math.min(...intervals.map((i) => i.start));
    console.log(`read/write processes: ${intervals.length} holds over ${Math.round(span)} ms, ${shared} overlapping reader pairs`);
  }, 45_000);
});
