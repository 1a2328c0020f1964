import { createElector, YADL_ELECTION_LEASE_MS } from '../contenders/electors';
import { now, sleep } from '../support/clock';
import { PARENT } from '../support/ipc';
import type { WorkerProcess } from '../support/pool';
import { summarize } from '../support/stats';
import { connectionName, freshId } from './common';
import { task, type Scenario, type ScenarioContext, type Task } from './types';

const CANDIDATES = 3;
const KILLS = 3;
const RESIGNS = 5;
/** After the first term, before counting the followers' commands: connections and subscriptions settle. */
const SETTLE_MS = 1_500;
const IDLE_WINDOW_MS = 5_000;
const MAIL_TIMEOUT_MS = 60_000;

interface CandidateArgs {
  contender: string;
  url: string;
  prefix: string;
  id: number;
}

interface Elected {
  id: number;
  at: number;
}

/** One candidate: campaigns, mails each term's start, resigns when told; runs until killed. */
const candidate = task<CandidateArgs>(async (args, context): Promise<void> => {
  const elector = createElector(args.contender, {
    url: args.url,
    prefix: args.prefix,
    connectionName: connectionName(args.contender),
    leaseMs: YADL_ELECTION_LEASE_MS,
  });
  elector.start(() => context.send(PARENT, 'elected', { id: args.id, at: now() } satisfies Elected));
  for (;;) {
    await context.receive(args.id, 'resign', 24 * 3_600_000);
    const at = now();
    await elector.resign();
    context.send(PARENT, 'resigned', { id: args.id, at });
  }
});

export const electionTasks: Record<string, Task> = { 's12.candidate': candidate };

interface Running {
  readonly id: number;
  readonly worker: WorkerProcess;
}

async function startCandidate(context: ScenarioContext, args: Omit<CandidateArgs, 'id'>): Promise<Running> {
  const worker = await context.pool.spawnFresh();
  const id = freshId();
  context.pool.assign(id, worker);
  worker.run('s12.candidate', { ...args, id }, 24 * 3_600_000).catch(() => undefined);
  return { id, worker };
}

/** The next term begun by a candidate other than `not` (a peer's resigner may win again first). */
async function nextTerm(context: ScenarioContext, not: number): Promise<Elected> {
  for (;;) {
    const elected = await context.pool.mailbox.receive<Elected>(PARENT, 'elected', MAIL_TIMEOUT_MS);
    if (elected.id !== not) return elected;
  }
}

export const election: Scenario = {
  id: 's12',
  title: 'Leader election: failover and idle cost',
  description:
    `${CANDIDATES} candidate processes campaign for one election. Idle: the commands the followers (every candidate but the ` +
    `leader) write in ${IDLE_WINDOW_MS / 1000} s, per second together. Resign: the leader resigns (yadl: term.resign(); the ` +
    'peers have no resign that stays a candidate: stop(), then elect() again after two polls) and the time from the call to ' +
    `the next term in another process, ${RESIGNS} times. Kill: the leader is killed with SIGKILL, ${KILLS} times (a fresh ` +
    'candidate replaces it), and the time from the kill to the next term: at most the lease (ttl), plus the wake-up ' +
    `(yadl) or the poll interval (peers). yadl: lease ${YADL_ELECTION_LEASE_MS} ms; the peers at their defaults.`,
  processes: 0,
  contenders: ['yadl-election', 'redis-leader', 'safe-redis-leader'],
  metrics: [
    { key: 'killP50', label: 'kill -> next leader p50', unit: 'ms', better: 'lower' },
    { key: 'killMax', label: 'kill -> next leader max', unit: 'ms', better: 'lower' },
    { key: 'resignP50', label: 'resign -> next leader p50', unit: 'ms', better: 'lower' },
    { key: 'resignMax', label: 'resign -> next leader max', unit: 'ms', better: 'lower' },
    { key: 'idleCmdPerS', label: 'idle followers, commands/s together', unit: 'cmd/s', better: 'lower' },
    { key: 'leaseMs', label: 'lease (ttl)', unit: 'ms' },
  ],
  headline: 'resignP50',
  logChart: true,
  async run(context, contender, rep) {
    const args = { contender: contender.id, url: context.url, prefix: context.namespace(contender, rep) };
    const running: Running[] = [];
    try {
      for (let i = 0; i < CANDIDATES; i++) running.push(await startCandidate(context, args));
      let leader = await nextTerm(context, -1);

      // Idle: nobody changes anything; the followers' commands.
      await sleep(SETTLE_MS);
      const followers = () => running.filter((r) => r.id !== leader.id && r.worker.isAlive).map((r) => r.worker);
      const before = await Promise.all(followers().map((w) => w.probe()));
      const windowStart = now();
      await sleep(IDLE_WINDOW_MS);
      const after = await Promise.all(followers().map((w) => w.probe()));
      const sent = after.reduce((sum, p, i) => sum + p.commands - (before[i]?.commands ?? 0), 0);
      const idleCmdPerS = sent / ((now() - windowStart) / 1000);

      const resigns: number[] = [];
      for (let i = 0; i < RESIGNS; i++) {
        context.progress(`resign ${i + 1}/${RESIGNS}`);
        const was = leader.id;
        running.find((r) => r.id === was)?.worker.mail(was, 'resign');
        const resigned = await context.pool.mailbox.receive<Elected>(PARENT, 'resigned', MAIL_TIMEOUT_MS);
        leader = await nextTerm(context, was);
        resigns.push(leader.at - resigned.at);
        await sleep(300);
      }

      const kills: number[] = [];
      for (let i = 0; i < KILLS; i++) {
        context.progress(`kill ${i + 1}/${KILLS}`);
        const victim = running.find((r) => r.id === leader.id);
        if (victim === undefined) throw new Error('the leader is not a running candidate');
        const killedAt = now();
        victim.worker.kill('SIGKILL');
        leader = await nextTerm(context, victim.id);
        kills.push(leader.at - killedAt);
        await victim.worker.exited;
        running.splice(running.indexOf(victim), 1);
        running.push(await startCandidate(context, args));
        await sleep(SETTLE_MS);
      }
      const kill = summarize(kills);
      const resign = summarize(resigns);
      context.detail('killMs', kills);
      context.detail('resignMs', resigns);
      return {
        killP50: kill.p50,
        killMax: kill.max,
        resignP50: resign.p50,
        resignMax: resign.max,
        idleCmdPerS,
        leaseMs: leaseOf(contender.id),
      };
    } finally {
      await Promise.all(running.map((r) => r.worker.stop()));
    }
  },
};

function leaseOf(id: string): number {
  if (id === 'yadl-election') return YADL_ELECTION_LEASE_MS;
  if (id === 'redis-leader') return 10_000;
  return 1_500;
}
