/**
 * Leader election across processes, on a redis-server of the test's own:
 * candidates under random SIGKILLs, SIGSTOP/SIGCONT, resigns and restarts;
 * leader$ in another process across a kill, a resign, a proclaim and a Redis
 * restart; switchMap cancelling a term's work before another process's term.
 *
 * Times are on the clock every process on this machine shares
 * (performance.timeOrigin + performance.now()). A term is recorded as acted
 * on from when its process got it to its last piece of work (done after
 * checking the term's signal): those intervals must never overlap.
 *
 * YADL_ELECTION_CHAOS_MS sets how long the random schedule runs (default 20 s).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';
import { spawnWorker, type WorkerProcess } from '../support/workers/spawn-worker';
import { sleep, waitFor } from './holding';

const CHAOS_MS = Number(process.env.YADL_ELECTION_CHAOS_MS ?? '20000');
const LEASE = 1_000;
/** A loaded 2-core machine: event-loop lag, process start-up. */
const SLACK = 1_500;
const RESIGN_BOUND = 1_000;

const sharedNow = (): number => performance.timeOrigin + performance.now();
const servers: RedisServerHandle[] = [];
const workers: WorkerProcess[] = [];

afterEach(async () => {
  for (const w of workers.splice(0)) {
    w.kill('SIGCONT');
    w.kill('SIGKILL');
    await w.exited;
  }
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

interface Candidate {
  readonly id: number;
  readonly worker: WorkerProcess;
  readonly readyAt: Promise<number>;
  alive: boolean;
  stopped: boolean;
}

interface TermSeen {
  readonly candidate: number;
  readonly fence: number;
  readonly at: number;
}

function candidate(id: number, env: Record<string, string>): Candidate {
  const worker = spawnWorker('./candidate.ts', { ...env, VALUE: `c${id}` }, { ipc: true, bundle: true });
  workers.push(worker);
  const readyAt = worker.message((m) => m.ready === true).then((m) => Number(m.at));
  readyAt.catch(() => undefined);
  return { id, worker, readyAt, alive: true, stopped: false };
}

function termsOf(candidates: readonly Candidate[]): TermSeen[] {
  return candidates.flatMap((c) =>
    c.worker.messages.filter((m) => typeof m.term === 'number').map((m) => ({ candidate: c.id, fence: Number(m.term), at: Number(m.at) })),
  );
}

/** The live term of a running candidate, if any: its last term without an end. */
function leaderOf(candidates: readonly Candidate[]): { candidate: Candidate; fence: number } | undefined {
  for (const c of candidates) {
    if (!c.alive || c.stopped) continue;
    const terms = c.worker.messages.filter((m) => typeof m.term === 'number');
    const last = terms.at(-1);
    if (last === undefined) continue;
    const fence = Number(last.term);
    if (!c.worker.messages.some((m) => m.end === fence)) return { candidate: c, fence };
  }
  return undefined;
}

async function nextTerm(candidates: readonly Candidate[], after: number, withinMs: number): Promise<TermSeen> {
  let found: TermSeen | undefined;
  await waitFor(
    () => {
      found = termsOf(candidates)
        .filter((t) => t.fence > after)
        .sort((a, b) => a.fence - b.fence)[0];
      return found !== undefined;
    },
    withinMs,
    `a term after ${after}`,
  );
  return found as TermSeen;
}

/** Intervals [got the term, last work under it], sorted by start: none may overlap, fences must increase. */
function checkTerms(candidates: readonly Candidate[]): { terms: number; overlaps: string[]; order: string[] } {
  const intervals = candidates.flatMap((c) =>
    c.worker.messages
      .filter((m) => typeof m.term === 'number')
      .map((m) => {
        const fence = Number(m.term);
        const work = c.worker.messages.filter((w) => w.work === fence).map((w) => Number(w.at));
        return { candidate: c.id, fence, start: Number(m.at), end: Math.max(Number(m.at), ...work) };
      }),
  );
  intervals.sort((a, b) => a.start - b.start);
  const overlaps: string[] = [];
  const order: string[] = [];
  let latestEnd = -Infinity;
  let latest: (typeof intervals)[number] | undefined;
  for (let i = 0; i < intervals.length; i++) {
    const t = intervals[i]!;
    if (latest !== undefined && t.start <= latestEnd) {
      overlaps.push(`term ${t.fence} (c${t.candidate}) began ${(latestEnd - t.start).toFixed(1)} ms before term ${latest.fence} (c${latest.candidate}) last worked`);
    }
    const before = intervals[i - 1];
    if (before !== undefined && t.fence <= before.fence) order.push(`term ${t.fence} began after term ${before.fence}`);
    if (t.end > latestEnd) {
      latestEnd = t.end;
      latest = t;
    }
  }
  return { terms: intervals.length, overlaps, order };
}

describe('candidates in several processes', { timeout: CHAOS_MS + 120_000 }, () => {
  it(`never overlap and fail over fast, under kills, pauses, resigns and restarts for ${CHAOS_MS} ms`, async () => {
    const server = await startRedisServer();
    servers.push(server);
    // A resigner stays out 3 s: long enough that a slow follower, not the resigner, takes the next term.
    const env = { REDIS_URL: server.url, PREFIX: 'chaos', NAME: 'leader', LEASE: String(LEASE), GRACE: '3000', WORK_MS: '10' };
    let nextId = 0;
    const candidates: Candidate[] = Array.from({ length: 4 }, () => candidate(nextId++, env));
    await Promise.all(candidates.map((c) => c.readyAt));
    let current = await nextTerm(candidates, 0, 10_000);
    const failovers: number[] = [];
    const handoffs: number[] = [];
    const actions: string[] = [];
    const until = performance.now() + CHAOS_MS;
    while (performance.now() < until) {
      await sleep(200 + Math.random() * 600);
      const leader = leaderOf(candidates);
      if (leader === undefined) continue;
      const others = [];
      for (const c of candidates) {
        if (c !== leader.candidate && c.alive && !c.stopped && sharedNow() - (await c.readyAt) > 500) others.push(c);
      }
      const roll = Math.random();
      if (roll < 0.3) {
        actions.push('kill leader');
        const killedAt = sharedNow();
        leader.candidate.worker.kill('SIGKILL');
        leader.candidate.alive = false;
        await leader.candidate.worker.exited;
        candidates.push(candidate(nextId++, env));
        current = await nextTerm(candidates, leader.fence, LEASE + SLACK);
        failovers.push(current.at - killedAt);
      } else if (roll < 0.5) {
        actions.push('pause leader');
        const stoppedAt = sharedNow();
        leader.candidate.worker.kill('SIGSTOP');
        leader.candidate.stopped = true;
        if (others.length > 0) {
          current = await nextTerm(candidates, leader.fence, LEASE + SLACK);
          failovers.push(current.at - stoppedAt);
        }
        await sleep(LEASE / 2);
        leader.candidate.worker.kill('SIGCONT');
        leader.candidate.stopped = false;
        // It finds its term over before doing any more work under it.
        await leader.candidate.worker.message((m) => m.end === leader.fence, 10_000);
      } else if (roll < 0.8) {
        actions.push('resign');
        leader.candidate.worker.child.send({ cmd: 'resign' });
        const resigned = await leader.candidate.worker.message((m) => m.resigned === leader.fence, 10_000);
        if (resigned.live !== true) {
          // Its term had ended before the resign came (its lease ran out while its process was starved of CPU).
          actions.push('(that term was already over)');
          expect(leader.candidate.worker.messages.some((m) => m.end === leader.fence)).toBe(true);
        } else if (others.length > 0) {
          current = await nextTerm(candidates, leader.fence, RESIGN_BOUND + SLACK);
          expect(current.candidate, 'the resigner went to the back of the line').not.toBe(leader.candidate.id);
          handoffs.push(current.at - Number(resigned.at));
        }
      } else {
        const follower = others[Math.floor(Math.random() * others.length)];
        if (follower === undefined) continue;
        actions.push('kill follower');
        follower.worker.kill('SIGKILL');
        follower.alive = false;
        await follower.worker.exited;
        candidates.push(candidate(nextId++, env));
      }
    }
    for (const c of candidates) expect(c.worker.messages.filter((m) => m.error !== undefined), `c${c.id}`).toEqual([]);
    const { terms, overlaps, order } = checkTerms(candidates);
    const fmt = (xs: number[]): string => (xs.length === 0 ? '-' : `max ${Math.max(...xs).toFixed(0)} ms, ${xs.map((x) => x.toFixed(0)).join(' ')}`);
    console.log(`[election chaos] ${CHAOS_MS} ms, ${terms} terms, ${actions.length} actions (${actions.join(', ')})`);
    console.log(`[election chaos] kill/pause -> next leader (lease ${LEASE} ms): ${fmt(failovers)}`);
    console.log(`[election chaos] resign -> next leader: ${fmt(handoffs)}`);
    expect(overlaps).toEqual([]);
    expect(order).toEqual([]);
    expect(terms).toBeGreaterThan(3);
    for (const f of failovers) expect(f).toBeLessThan(LEASE + SLACK);
    for (const h of handoffs) expect(h).toBeLessThan(RESIGN_BOUND);
  });
});

describe('leader$ in another process', { timeout: 120_000 }, () => {
  it('sees every term in order, with no duplicate, across a kill, a proclaim, a resign and a Redis restart', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const env = { REDIS_URL: server.url, PREFIX: 'watched', NAME: 'leader', LEASE: String(LEASE), GRACE: '1000', WORK_MS: '50' };
    const watcher = spawnWorker('./leader-watcher.ts', env, { bundle: true });
    workers.push(watcher);
    await watcher.message((m) => m.leader === null);
    const a = candidate(0, env);
    const ta = await nextTerm([a], 0, 20_000);
    const b = candidate(1, env);
    await b.readyAt;
    await sleep(500);
    // A kill: b takes over within a lease.
    a.worker.kill('SIGKILL');
    a.alive = false;
    const tb = await nextTerm([b], ta.fence, LEASE + SLACK);
    // A proclaim: same fence, new value.
    b.worker.child.send({ cmd: 'proclaim', value: 'b-proclaimed' });
    await b.worker.message((m) => m.proclaimed === tb.fence);
    const c = candidate(2, env);
    await c.readyAt;
    await sleep(500);
    // A resign: c takes over.
    b.worker.child.send({ cmd: 'resign' });
    const tc = await nextTerm([b, c], tb.fence, RESIGN_BOUND + SLACK);
    expect(tc.candidate).toBe(2);
    // A Redis restart without persistence: the term is gone, and a new one begins with a greater fence.
    await server.restart();
    const td = await nextTerm([b, c], tc.fence, 15_000);
    await watcher.message((m) => (m.leader as { fence?: number } | null)?.fence === td.fence, 15_000);

    const seen = watcher.messages.filter((m) => 'leader' in m).map((m) => m.leader as { fence: number; value: string } | null);
    expect(watcher.messages.filter((m) => m.error !== undefined)).toEqual([]);
    const leaders = seen.filter((l): l is { fence: number; value: string } => l !== null);
    const keys = leaders.map((l) => `${l.fence}:${l.value}`);
    expect(new Set(keys).size, keys.join(' ')).toBe(keys.length);
    for (let i = 1; i < leaders.length; i++) expect(leaders[i]!.fence).toBeGreaterThanOrEqual(leaders[i - 1]!.fence);
    for (let i = 1; i < seen.length; i++) expect(seen[i], 'no two nulls in a row').not.toEqual(seen[i - 1]);
    // Every term, and the proclaimed value, in order.
    expect(leaders.map((l) => [l.fence, l.value])).toEqual([
      [ta.fence, 'c0'],
      [tb.fence, 'c1'],
      [tb.fence, 'b-proclaimed'],
      [tc.fence, 'c2'],
      [td.fence, td.candidate === 1 ? 'b-proclaimed' : 'c2'],
    ]);
    console.log(`[leader$] ${JSON.stringify(seen)}`);
  });
});

describe('switchMap over elect$ across processes', { timeout: 120_000 }, () => {
  it("cancels a term's work (its signal aborted) before another process's term begins", async () => {
    const server = await startRedisServer();
    servers.push(server);
    const env = { REDIS_URL: server.url, PREFIX: 'switch', NAME: 'leader', LEASE: String(LEASE), GRACE: '1000', WORK_MS: '5' };
    const a = candidate(0, env);
    const ta = await nextTerm([a], 0, 20_000);
    const b = candidate(1, env);
    await b.readyAt;
    await sleep(300);
    a.worker.child.send({ cmd: 'resign' });
    const tb = await nextTerm([a, b], ta.fence, RESIGN_BOUND + SLACK);
    const aEnd = await a.worker.message((m) => m.end === ta.fence);
    const aCancelled = await a.worker.message((m) => m.cancelled === ta.fence);
    expect(Number(aEnd.at)).toBeLessThan(tb.at);
    expect(Number(aCancelled.at)).toBeLessThan(tb.at);
    // Leaving (unsubscribe) resigns too: b's work is cancelled before a's next term.
    b.worker.child.send({ cmd: 'exit' });
    const ta2 = await nextTerm([a], tb.fence, RESIGN_BOUND + SLACK);
    const bCancelled = await b.worker.message((m) => m.cancelled === tb.fence);
    expect(Number(bCancelled.at)).toBeLessThan(ta2.at);
    const lastWork = Math.max(...b.worker.messages.filter((m) => m.work === tb.fence).map((m) => Number(m.at)));
    expect(lastWork).toBeLessThan(ta2.at);
  });
});
