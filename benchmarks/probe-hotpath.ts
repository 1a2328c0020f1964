/**
 * A quick probe of yadl's hot path in one process, for profiling (issue 14):
 * not part of `npm run bench`, whose scenarios hold the numbers that count.
 *
 *   npx tsx benchmarks/probe-hotpath.ts many   yadl-lock    1000 names at once: locks/s, client CPU/lock, Redis commands/lock
 *   npx tsx benchmarks/probe-hotpath.ts pairs  yadl-facade  acquire + awaited release on one name
 *   node --expose-gc --import tsx benchmarks/probe-hotpath.ts waiters yadl-lock   heap per waiter (10 000 waiters)
 *   node --cpu-prof --import tsx benchmarks/probe-hotpath.ts many yadl-facade      the same under the CPU profiler
 *
 * The contender is any id of benchmarks/contenders (raw, yadl-lock, yadl-facade, redlock...).
 * PROBE_MS sets how long `many` and `pairs` run (default 3000), PROBE_ROUNDS a number of rounds of
 * `many` instead; REDIS_URL uses that Redis
 * instead of a private redis-server.
 */
import { startRedisServer } from '../spec/support/redis-server';
import { createAdapter, type Held, type LockAdapter } from './contenders';
import { Admin, commandDelta } from './support/redis-admin';

const [mode = 'many', id = 'yadl-lock'] = process.argv.slice(2);
const durationMs = Number(process.env.PROBE_MS ?? 3000);
/** `many`: this many rounds instead of PROBE_MS (the same work each run, e.g. to count GCs under --trace-gc). */
const rounds = process.env.PROBE_ROUNDS === undefined ? undefined : Number(process.env.PROBE_ROUNDS);

async function many(adapter: LockAdapter): Promise<{ ops: number; label: string }> {
  const names = Array.from({ length: 1000 }, (_, i) => `name-${i}`);
  const round = (): Promise<void[]> => Promise.all(names.map(async (name) => (await adapter.acquire(name)).release()));
  const warmUpEnd = performance.now() + 500;
  while (performance.now() < warmUpEnd) await round();
  let ops = 0;
  const start = performance.now();
  do {
    await round();
    ops += names.length;
  } while (rounds === undefined ? performance.now() - start < durationMs : ops < rounds * names.length);
  return { ops, label: 'lock' };
}

async function pairs(adapter: LockAdapter): Promise<{ ops: number; label: string }> {
  const warmUpEnd = performance.now() + 300;
  while (performance.now() < warmUpEnd) await (await adapter.acquire('pair')).release();
  let ops = 0;
  const start = performance.now();
  do {
    await (await adapter.acquire('pair')).release();
    ops += 1;
  } while (performance.now() - start < durationMs);
  return { ops, label: 'pair' };
}

function collect(): void {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc === undefined) throw new Error('waiters needs node --expose-gc');
  gc();
  gc();
}

/** 10 000 waiters on 5 held names, as in scenario 7: heap per waiter after GC. */
async function waiters(adapter: LockAdapter): Promise<void> {
  const names = Array.from({ length: 5 }, (_, i) => `scale-${i}`);
  const holds: Held[] = [];
  for (const name of names) holds.push(await adapter.acquire(name));
  const count = 10_000;
  let done = 0;
  let drained = (): void => undefined;
  const allDone = new Promise<void>((resolve) => (drained = resolve));
  collect();
  const before = process.memoryUsage().heapUsed;
  const onHeld = (held: Held): void => {
    void held.release().then(() => {
      done += 1;
      if (done === count) drained();
    });
  };
  for (let i = 0; i < count; i += 1) {
    const name = names[i % names.length] as string;
    if (adapter.enqueue !== undefined) adapter.enqueue(name, onHeld);
    else void adapter.acquire(name).then(onHeld);
  }
  await new Promise((resolve) => setTimeout(resolve, 2000));
  collect();
  const after = process.memoryUsage().heapUsed;
  console.log(`${id} waiters: ${((after - before) / count).toFixed(0)} B per waiter (${count} waiters)`);
  const drainStart = performance.now();
  await Promise.all(holds.map((h) => h.release()));
  await allDone;
  console.log(`${id} waiters: all served in ${(performance.now() - drainStart).toFixed(0)} ms`);
}

async function main(): Promise<void> {
  const server = process.env.REDIS_URL === undefined ? await startRedisServer() : undefined;
  const url = process.env.REDIS_URL ?? server?.url ?? '';
  const admin = new Admin(url);
  const adapter = await createAdapter(id, { url, prefix: `probe-${process.pid}`, connectionName: `probe-${id}` });
  try {
    if (mode === 'waiters') {
      await waiters(adapter);
      return;
    }
    const statsBefore = await admin.commandStats();
    const cpu = process.cpuUsage();
    const start = performance.now();
    const { ops, label } = mode === 'pairs' ? await pairs(adapter) : await many(adapter);
    const elapsedS = (performance.now() - start) / 1000;
    const { user, system } = process.cpuUsage(cpu);
    const delta = commandDelta(statsBefore, await admin.commandStats());
    const perOp = Object.entries(delta.byCommand)
      .map(([command, n]) => `${command} ${(n / ops).toFixed(2)}`)
      .join(', ');
    console.log(
      `${id} ${mode}: ${(ops / elapsedS).toFixed(0)} ${label}s/s, client CPU ${((user + system) / ops).toFixed(1)} µs/${label} ` +
        `(run incl. warm-up), Redis commands/${label}: ${(delta.total / ops).toFixed(2)} (${perOp})`,
    );
  } finally {
    await adapter.close();
    await admin.close();
    await server?.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
