/**
 * A candidate in an election, doing its term's work under switchMap.
 * Env: REDIS_URL, PREFIX, NAME, LEASE, VALUE, GRACE (handoffGrace), WORK_MS.
 * Prints one JSON line per event, times on the clock every process shares
 * (performance.timeOrigin + performance.now()):
 *   {term, value, at}      a term began (its fence)
 *   {work, at}             the term's work ran (every WORK_MS), having checked its signal
 *   {end, reason, at}      the term's signal aborted (reason: the error's name)
 *   {cancelled, at}        switchMap cancelled the term's work
 *   {resigned, live, at}   a resign asked for over IPC was answered (at: when it was asked; live: the term
 *                          had not ended by then)
 *   {proclaimed, value}    a proclaim asked for over IPC was answered
 *   {error}                the candidacy failed
 * IPC: {cmd: 'resign'}, {cmd: 'proclaim', value}, {cmd: 'exit'}.
 */
import { EMPTY, Observable, switchMap } from 'rxjs';
import { elect$, type Term } from '../../../src/index';

const env = process.env;
const now = (): number => performance.timeOrigin + performance.now();
const out = (message: Record<string, unknown>): void => console.log(JSON.stringify(message));
const workMs = Number(env.WORK_MS ?? '10');
let current: Term | undefined;

const subscription = elect$(env.NAME ?? 'election', {
  redis: env.REDIS_URL ?? '',
  prefix: env.PREFIX ?? '',
  lease: Number(env.LEASE ?? '1000'),
  value: env.VALUE ?? String(process.pid),
  handoffGrace: Number(env.GRACE ?? '2000'),
})
  .pipe(
    switchMap((term) => {
      if (term === null) return EMPTY;
      current = term;
      out({ term: term.fence, value: term.value, at: now() });
      return new Observable<never>(() => {
        const timer = setInterval(() => {
          if (!term.signal.aborted) out({ work: term.fence, at: now() });
        }, workMs);
        term.signal.addEventListener('abort', () => {
          out({ end: term.fence, reason: (term.signal.reason as Error | undefined)?.name, at: now() });
        });
        return () => {
          clearInterval(timer);
          out({ cancelled: term.fence, at: now() });
        };
      });
    }),
  )
  .subscribe({ error: (error: unknown) => out({ error: String(error) }) });

process.on('message', (message: { cmd: string; value?: string }) => {
  const term = current;
  if (message.cmd === 'resign' && term !== undefined) {
    const at = now();
    // A term may have ended since the parent looked (a starved event loop runs its overdue timers first).
    const live = !term.signal.aborted;
    void term.resign().then(
      () => out({ resigned: term.fence, live, at }),
      (error: unknown) => out({ resignFailed: String(error) }),
    );
  } else if (message.cmd === 'proclaim' && term !== undefined) {
    void term.proclaim(message.value ?? '').then(
      () => out({ proclaimed: term.fence, value: message.value, at: now() }),
      (error: unknown) => out({ proclaimFailed: String(error) }),
    );
  } else if (message.cmd === 'exit') {
    subscription.unsubscribe();
    process.disconnect();
  }
});
out({ ready: true, at: now() });
