/**
 * Part 2: lock$ in a reactive pipeline. A stream of jobs runs concurrently
 * (mergeMap); each job holds the lock of the report it writes, so jobs on
 * the same report take turns. Waiting jobs send Redis nothing: the release
 * of the lock wakes the next one through a keyspace notification.
 */
import type { Redis } from 'ioredis';
import { finalize, from, lastValueFrom, map, mergeMap, switchMap, take, timer, type Observable } from 'rxjs';
import { lock$, type Lease } from '../src/index';
import { heading, note, row, since } from './output';

interface Job {
  id: number;
  report: string;
  ms: number;
}

const JOBS: Job[] = [
  { id: 1, report: 'A', ms: 150 },
  { id: 2, report: 'B', ms: 100 },
  { id: 3, report: 'A', ms: 60 },
  { id: 4, report: 'A', ms: 60 },
  { id: 5, report: 'B', ms: 60 },
  { id: 6, report: 'C', ms: 60 },
];

/** The work a job does while it holds its lock. */
function writeReport(job: Job, lease: Lease): Observable<string> {
  return timer(job.ms).pipe(map(() => `report ${job.report} written under fence ${lease.fence}`));
}

export async function reactivePipeline(url: string, prefix: string, redis: Redis): Promise<void> {
  heading(
    '2. A reactive pipeline (lock$ inside mergeMap)',
    "from(jobs).pipe(mergeMap(job => lock$('report-' + job.report).pipe(switchMap(write), take(1))))",
    `${JOBS.length} jobs start at once; jobs on the same report take turns, the others run in parallel.`,
  );
  const scriptsBefore = await scriptCalls(redis);
  const releasedAt = new Map<string, number>();

  const jobs$ = from(JOBS).pipe(
    mergeMap((job) => {
      const who = `job ${job.id} (${job.report})`;
      const queuedAt = since();
      return lock$(`report-${job.report}`, { redis: url, prefix }).pipe(
        switchMap((lease) => {
          const now = since();
          const previous = releasedAt.get(job.report);
          const handoff = previous !== undefined && previous >= queuedAt ? `, handoff ${now - previous} ms` : '';
          row(now, who, `acquired  fence ${lease.fence}   (waited ${now - queuedAt} ms${handoff})`);
          return writeReport(job, lease);
        }),
        take(1), // done: completing unsubscribes from lock$, which releases the lock
        finalize(() => {
          releasedAt.set(job.report, since());
          row(since(), who, 'released');
        }),
      );
    }),
  );
  await lastValueFrom(jobs$);

  const scripts = (await scriptCalls(redis)) - scriptsBefore;
  if (!Number.isNaN(scripts)) {
    note(`Redis ran ${scripts} lock scripts for these ${JOBS.length} jobs: an attempt and a release per job, plus one retry`);
    note('per wake-up (a release, or the wait subscription being confirmed). Waiting itself sends nothing.');
  }
}

/** Lua script calls (EVALSHA and EVAL) the server has run so far, from INFO commandstats; NaN if unavailable. */
async function scriptCalls(redis: Redis): Promise<number> {
  try {
    const info = await redis.info('commandstats');
    const calls = [...info.matchAll(/^cmdstat_eval(?:sha)?:calls=(\d+)/gm)].map((m) => Number(m[1]));
    return calls.reduce((a, b) => a + b, 0);
  } catch {
    return Number.NaN;
  }
}
