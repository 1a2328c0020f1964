/**
 * Part 3: a hold that ends before the work does. With a fixed `ttl` the lock
 * is never renewed; when the ttl is about to run out, yadl aborts the lease's
 * signal (so work that honours it stops) and errors the observable with a
 * LockLostError. A waiter gets the lock at the holder's deadline.
 */
import { setTimeout as sleep } from 'node:timers/promises';
import { firstValueFrom, switchMap, tap } from 'rxjs';
import { lock$, LockLostError } from '../src/index';
import { heading, note, row, since } from './output';

const TTL = 300;
const WORK = 1_000;

export async function lostHold(url: string, prefix: string): Promise<void> {
  heading(
    '3. A lost hold (lock$ with a fixed ttl)',
    `The holder takes 'nightly-job' with { ttl: ${TTL} } (never renewed) and starts ${WORK} ms of work.`,
    'yadl tells it slightly before the ttl runs out in Redis; a waiter gets the lock at that deadline.',
  );
  const options = { redis: url, prefix };
  let acquiredAt = 0;
  let lostAt = 0;
  let holderAcquired: () => void = () => {};
  const acquired = new Promise<void>((resolve) => (holderAcquired = resolve));

  const holder = firstValueFrom(
    lock$('nightly-job', { ...options, ttl: TTL }).pipe(
      switchMap(async (lease) => {
        acquiredAt = since();
        row(acquiredAt, 'holder', `acquired  fence ${lease.fence}, starts ${WORK} ms of work`);
        holderAcquired();
        lease.signal.addEventListener('abort', () => {
          lostAt = since();
          row(lostAt, 'holder', `lease.signal aborted after ${lostAt - acquiredAt} ms: the work stops`);
        });
        await sleep(WORK, undefined, { signal: lease.signal }); // work that honours the signal
        return 'finished';
      }),
    ),
  ).catch((error: unknown) => {
    if (!(error instanceof LockLostError)) throw error;
    row(since(), 'holder', `${error.name} (reason '${error.reason}'): ${error.message}`);
    return 'lost';
  });

  await Promise.race([acquired, holder]); // the waiter comes once the holder has the lock
  row(since(), 'waiter', 'waits');
  const waiter = firstValueFrom(
    lock$('nightly-job', options).pipe(
      tap((lease) => row(since(), 'waiter', `acquired  fence ${lease.fence}, ${since() - lostAt} ms after the holder was told`)),
    ),
  ); // firstValueFrom unsubscribes after the first lease, which releases it

  const [outcome] = await Promise.all([holder, waiter]);
  note(`the holder's work ${outcome === 'lost' ? 'was stopped' : 'finished'}: it was told before anyone else could take the lock.`);
}
