/**
 * Randomized schedules on a real Redis behind a fault proxy, with several
 * processes (fast-check; see schedule-plan.ts for what is generated,
 * schedule-runner.ts for how a run goes, schedule-checks.ts for the
 * invariants).
 *
 * Each run: a redis-server of its own (busy-reply-threshold 50 ms; in one run
 * in four without CONFIG, so without keyspace events), a fault proxy in front
 * of it, and 2-3 worker processes whose 2-8 holders (lock$ or the facade;
 * exclusive, write or read; a ttl of 200-600 ms or a lease of 300-600 ms;
 * redisTimeout 1000-1500 ms; waiting forever, one attempt or a timeout) take
 * one or two lock names through the proxy, some cancelled (unsubscribe or
 * AbortSignal, after 0-40 microtasks, so while the first attempt is in
 * flight, or 0-400 ms). Meanwhile the test strikes: replies delayed, held,
 * dropped (and the connection cut), connections cut, the proxy frozen,
 * CLIENT PAUSE, CLIENT KILL of data or subscriber connections, a busy Lua
 * script (BUSY replies), SIGKILL of a worker. Holds outlive their ttl, so
 * expiry by waiting happens too.
 *
 * Checked on every run: never two holders (a write hold's believed interval
 * overlaps no other hold of the name, on CLOCK_MONOTONIC shared by all
 * processes), fences increasing in grant order, every subscription ending
 * with a lease or a LockError (on time for timeouts and aborts), no spinning
 * event loop (heartbeats: gaps over 250 ms while on the CPU), no unhandled
 * rejection, and afterwards no lock state in Redis and yadl's diagnostics
 * at zero in every worker.
 *
 * The seed is printed at the start. Knobs (environment):
 * - Replay: FC_SEED=<seed> FC_PATH=<path> (both printed on failure), or
 *   SCHEDULE_PLAN=<file> with a counterexample plan as JSON, run
 *   SCHEDULE_REPEAT times (default 1) instead of the property.
 * - Budget: FC_NUM_RUNS=<n> runs (default 6), within SCHEDULE_TIME_LIMIT_MS
 *   (default 50 s, or 30 s a run with FC_NUM_RUNS); a run takes 5-10 s.
 *   SCHEDULE_NO_SHRINK=1 reports the first failure unshrunk (each shrinking
 *   step is a whole run).
 * - Checks (schedule-checks.ts): SCHEDULE_MAX_GAP_MS (default 250) and
 *   SCHEDULE_LATE_MS (default 300) set the spin and lateness bounds;
 *   SCHEDULE_IGNORE=<kind>,<kind> reports those kinds of violation as notes.
 * - SCHEDULE_VERBOSE=1 prints a line a run and failing runs' accounts, =2
 *   every run's account.
 * A failing run's full account is written to a file in the temp directory
 * and named in the failure.
 */
import { readFileSync } from 'node:fs';
import fc from 'fast-check';
import { afterAll, describe, it } from 'vitest';
import { useFaultKit } from './fault-kit';
import { runPlanArb, type RunPlan } from './schedule-plan';
import { runSchedule, WorkerPool } from './schedule-runner';

const kit = useFaultKit();
const env = process.env;
const NUM_RUNS = env.FC_NUM_RUNS ? Number(env.FC_NUM_RUNS) : 6;
const TIME_LIMIT_MS = Number(env.SCHEDULE_TIME_LIMIT_MS ?? (env.FC_NUM_RUNS ? NUM_RUNS * 30_000 : 50_000));
const SEED = env.FC_SEED ? Number(env.FC_SEED) : (Date.now() ^ Math.floor(Math.random() * 0x7fffffff)) | 0;

let pool: WorkerPool | undefined;
const workers = (): WorkerPool => (pool ??= new WorkerPool(3));
afterAll(async () => {
  await pool?.close();
});

const totals: Record<string, number> = {};

async function property(plan: RunPlan): Promise<void> {
  const outcome = await runSchedule(plan, kit, workers());
  for (const [key, value] of Object.entries(outcome.stats)) totals[key] = (totals[key] ?? 0) + value;
  if (outcome.violations.length > 0) throw new Error(outcome.report);
}

describe('randomized schedules through a fault proxy, several processes', () => {
  it(
    'never two holders, every subscription ends, nothing spins or leaks',
    async () => {
      if (env.SCHEDULE_PLAN) {
        // A plan as JSON (a counterexample copied from a failure), run SCHEDULE_REPEAT times instead of the property.
        const plan = JSON.parse(readFileSync(env.SCHEDULE_PLAN, 'utf8')) as RunPlan;
        for (let i = 0; i < Number(env.SCHEDULE_REPEAT ?? 1); i++) await property(plan);
        return;
      }
      const path = env.FC_PATH;
      console.log(`[schedule] seed ${SEED}${path ? `, path ${path}` : ''}; ${NUM_RUNS} runs within ${TIME_LIMIT_MS} ms (replay: FC_SEED=${SEED})`);
      const started = performance.now();
      try {
        await fc.assert(fc.asyncProperty(runPlanArb, property), {
          numRuns: NUM_RUNS,
          seed: SEED,
          ...(path ? { path } : {}),
          // SCHEDULE_NO_SHRINK=1: report the first failure as it is (each shrinking step is a whole run).
          ...(path || env.SCHEDULE_NO_SHRINK ? { endOnFailure: true } : {}),
          interruptAfterTimeLimit: TIME_LIMIT_MS,
        });
      } finally {
        console.log(`[schedule] ${JSON.stringify(totals)} in ${Math.round(performance.now() - started)} ms; ${workers().spawned} worker processes started`);
      }
    },
    TIME_LIMIT_MS + 120_000,
  );
});
