/**
 * Part 1: several processes contend for one lock through the promise facade.
 * Each worker (worker.ts) increments a shared counter under RedisLock; the
 * parent prints what they report, in time order, and checks the result.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import type { Redis } from 'ioredis';
import { heading, note, row } from './output';

const WORKERS = 4;
const ROUNDS = 2;

interface WorkerEvent {
  t: number;
  worker: number;
  event: 'ready' | 'waits' | 'acquired' | 'releases';
  fence?: number;
  read?: number;
  wrote?: number;
}

export async function contendingProcesses(url: string, prefix: string, redis: Redis): Promise<void> {
  heading(
    '1. Processes contending for one lock (RedisLock.withLock)',
    `${WORKERS} worker processes each add 1 to a counter in Redis ${ROUNDS} times: GET, a 40 ms pause, SET.`,
    "Without the lock 'counter' they would overwrite each other's updates.",
  );
  const events: WorkerEvent[] = [];
  const workers = Array.from({ length: WORKERS }, (_, i) => startWorker(i + 1, url, prefix, events));
  const killAll = (): void => workers.forEach((w) => w.child.kill());
  process.on('exit', killAll);
  try {
    await Promise.all(workers.map((w) => w.ready));
    for (const { child } of workers) child.stdin?.end('go\n');
    await Promise.all(workers.map((w) => w.done));
  } finally {
    process.off('exit', killAll);
    killAll(); // if one failed, do not leave the others running
  }
  printTimeline(events.filter((e) => e.event !== 'ready'));

  const counter = Number(await redis.get(`${prefix}:counter`));
  const expected = WORKERS * ROUNDS;
  note(`counter = ${counter} after ${expected} increments: ${counter === expected ? 'no update lost' : 'UPDATES LOST'}`);
}

function printTimeline(events: WorkerEvent[]): void {
  // Sorted by time; at the same millisecond a release comes before the next acquisition.
  const order = { ready: 0, releases: 1, waits: 2, acquired: 3 };
  events.sort((a, b) => a.t - b.t || order[a.event] - order[b.event]);
  const waitingSince = new Map<number, number>();
  let lastRelease: number | undefined;
  let lastFence = 0;
  let fencesIncrease = true;
  const handoffs: number[] = [];
  for (const e of events) {
    const who = `worker ${e.worker}`;
    if (e.event === 'waits') {
      waitingSince.set(e.worker, e.t);
      row(e.t, who, 'waits');
    } else if (e.event === 'acquired') {
      const waited = e.t - (waitingSince.get(e.worker) ?? e.t);
      const handoff = lastRelease === undefined ? '' : `, handoff ${e.t - lastRelease} ms`;
      if (lastRelease !== undefined) handoffs.push(e.t - lastRelease);
      const fence = e.fence ?? 0;
      fencesIncrease &&= fence > lastFence;
      lastFence = fence;
      row(e.t, who, `acquired  fence ${fence}  reads ${e.read}   (waited ${waited} ms${handoff})`);
    } else {
      lastRelease = e.t;
      row(e.t, who, `releases  writes ${e.wrote}`);
    }
  }
  handoffs.sort((a, b) => a - b);
  note(`fences ${fencesIncrease ? 'strictly increase' : 'DO NOT INCREASE'} from one holder to the next`);
  note(`handoff from a release to the next acquisition: median ${handoffs[handoffs.length >> 1]} ms, max ${handoffs.at(-1)} ms`);
}

interface Worker {
  child: ChildProcess;
  ready: Promise<void>;
  done: Promise<void>;
}

function startWorker(id: number, url: string, prefix: string, events: WorkerEvent[]): Worker {
  const script = fileURLToPath(new URL('./worker.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', script, url, prefix, String(id), String(ROUNDS)], {
    cwd: fileURLToPath(new URL('..', import.meta.url)),
    stdio: ['pipe', 'pipe', 'inherit'],
  });
  let markReady: () => void = () => {};
  const ready = new Promise<void>((resolve) => (markReady = resolve));
  createInterface({ input: child.stdout! }).on('line', (line) => {
    const event = JSON.parse(line) as WorkerEvent;
    if (event.event === 'ready') markReady();
    else events.push(event);
  });
  const done = new Promise<void>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (code, signal) =>
      code === 0 ? resolve() : reject(new Error(`worker ${id} exited with ${signal ?? `code ${code}`}`)),
    );
  });
  // A worker that dies before it is ready fails the demo instead of stalling it.
  return { child, ready: Promise.race([ready, done]), done };
}
