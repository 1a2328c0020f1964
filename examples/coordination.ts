/**
 * Part 5: coordination beyond one lock, in one process for brevity (each
 * subscription is its own owner, exactly as if it ran on another host).
 *
 *   - semaphore$: four render jobs share a limit of 2 permits stored in Redis;
 *     a release hands its permit to the next job at once (no polling).
 *   - lockAll$: two transfers take the same two accounts in opposite argument
 *     orders; yadl takes names in one global order, so neither deadlocks.
 *   - elect$ / leader$: three candidates campaign for 'scheduler'; an observer
 *     sees every term in fence order; a resign hands over within a few ms.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { filter, firstValueFrom, ReplaySubject, skip, type Subscription } from 'rxjs';
import { elect$, leader$, lockAll$, semaphore$, type Term } from '../src/index';
import { heading, note, row, since } from './output';

export async function coordination(url: string, prefix: string): Promise<void> {
  heading(
    '5. Semaphores, multi-locks and leader election',
    "semaphore$: 4 jobs, limit 2; lockAll$: two transfers over the same accounts in opposite orders;",
    "elect$: 3 candidates for 'scheduler', leader$ watching, the leader resigns.",
  );
  const options = { redis: url, prefix };
  await semaphore(options);
  await transfers(options);
  await election(options);
}

async function semaphore(options: { redis: string; prefix: string }): Promise<void> {
  let running = 0;
  let most = 0;
  const jobs = ['job-1', 'job-2', 'job-3', 'job-4'].map(
    (job) =>
      new Promise<void>((resolve, reject) => {
        const subscription: Subscription = semaphore$('render-farm', { ...options, limit: 2 }).subscribe({
          next: (lease) => {
            running += 1;
            most = Math.max(most, running);
            row(since(), job, `got ${lease.permits} permit (fence ${lease.fence}), ${running} running`);
            setTimeout(() => {
              running -= 1;
              subscription.unsubscribe(); // gives the permit back; the next job wakes at once
              resolve();
            }, 60);
          },
          error: reject,
        });
      }),
  );
  await Promise.all(jobs);
  note(`at most ${most} jobs ran at once: the limit lives in Redis, and every permit is a leased, fenced hold.`);
}

async function transfers(options: { redis: string; prefix: string }): Promise<void> {
  const transfer = (who: string, names: string[]): Promise<void> =>
    new Promise((resolve, reject) => {
      const subscription: Subscription = lockAll$(names, options).subscribe({
        next: (lease) => {
          row(since(), who, `holds ${names.join(' + ')} (fences ${names.map((n) => lease.fences[n]).join(', ')})`);
          setTimeout(() => {
            subscription.unsubscribe();
            resolve();
          }, 40);
        },
        error: reject,
      });
    });
  await Promise.all([transfer('a->b', ['account:a', 'account:b']), transfer('b->a', ['account:b', 'account:a'])]);
  note('both transfers finished: names are taken in one order (on one server, in one atomic script), whatever order they are given in.');
}

async function election(options: { redis: string; prefix: string }): Promise<void> {
  const seen: string[] = [];
  const watching = leader$('scheduler', options).subscribe((leader) => {
    seen.push(leader === null ? 'none' : `${leader.value}#${leader.fence}`);
    row(since(), 'leader$', leader === null ? 'no leader' : `leader ${leader.value} (term ${leader.fence})`);
  });
  const terms = new ReplaySubject<Term>();
  const candidates = ['node-a', 'node-b', 'node-c'].map((value) =>
    elect$('scheduler', { ...options, value, lease: 3_000 })
      .pipe(filter((term): term is Term => term !== null))
      .subscribe((term) => {
        terms.next(term);
        row(since(), value, `leads, term ${term.fence}`);
      }),
  );
  try {
    const first = await firstValueFrom(terms);
    await sleep(50);
    const resigned = performance.now();
    row(since(), first.value, 'resigns');
    await first.resign();
    const second = await firstValueFrom(terms.pipe(skip(1)));
    note(`${second.value} took over ${(performance.now() - resigned).toFixed(1)} ms after the resign, with a higher term (${second.fence} > ${first.fence}).`);
    await second.proclaim(`${second.value} (v2)`);
    await sleep(50);
  } finally {
    for (const candidate of candidates) candidate.unsubscribe(); // a leader's unsubscribe resigns at once
    await sleep(50);
    watching.unsubscribe();
  }
  note(`leader$ saw, in order: ${seen.join(' -> ')}.`);
}
