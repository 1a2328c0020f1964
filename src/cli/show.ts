import { readElection, readLock, readSemaphore, type LockDetails } from '../admin/query';
import { JSON_OPTION, type CommandSpec, type ParsedArgs } from './args';
import { lockName } from './lock-name';
import { describeGrant, describeHold, duration, lockTitle, printable } from './format';
import { CliError } from './errors';
import type { Output } from './output';
import { serverClockOffset } from './server-clock';
import { KIND_OPTION, kindOption } from './kind-option';
import { closeClient, resolveTarget, type Target } from './target';

export const showCommand: CommandSpec = {
  name: 'show',
  summary: 'one lock, semaphore or election in detail: holders, waiters, ttl',
  usage: 'show NAME [--kind lock|semaphore|election] [options]',
  description: [
    'Shows who holds the lock NAME now (the writer, or every reader, with fences',
    'and expiries), how many writers wait for its readers to leave, how many',
    "processes listen on its channel (waiters and watchers), and its key's ttl.",
    "--kind semaphore: the semaphore NAME's limit, permits held and every grant",
    '(permits, fence, expiry, label), and its fair line. --kind election: the',
    "election NAME's leader (its value), its term (fence) and expiry.",
    'Exits 1 when nothing is held (an election: when nobody leads).',
  ].join('\n'),
  options: [KIND_OPTION, JSON_OPTION],
  positionals: { min: 1, max: 1, names: 'the NAME of a lock, semaphore or election' },
};

export async function show(args: ParsedArgs, out: Output): Promise<number> {
  const target = resolveTarget(args, showCommand.name);
  const name = lockName(args, showCommand.name);
  const kind = kindOption(args, showCommand.name) ?? 'lock';
  const client = await target.connect();
  try {
    if (kind === 'semaphore') return await showSemaphore(client, target, name, args.options.has('json'), out);
    if (kind === 'election') return await showElection(client, target, name, args.options.has('json'), out);
    const lock = await readLock({ redis: client, name, prefix: target.prefix, redisTimeout: target.redisTimeout });
    if (lock.holds.length === 0 && lock.waiting === 0) {
      throw new CliError(`lock ${lockTitle(name, target.prefix)} is not held`);
    }
    if (args.options.has('json')) {
      out.stdout(JSON.stringify(lock, null, 2));
      return 0;
    }
    const serverNow = Date.now() + (await serverClockOffset(client, target.redisTimeout));
    const [first, ...others] = lock.holds;
    out.stdout(
      [
        `lock       ${lockTitle(name, target.prefix)}`,
        `held by    ${first === undefined ? 'nobody' : describeHold(first, serverNow)}`,
        ...others.map((hold) => `           ${describeHold(hold, serverNow)}`),
        `waiting    ${waitingLine(lock)}`,
        listeningLine(lock.listeners),
        `key ttl    ${lock.keyTtlMs >= 0 ? duration(lock.keyTtlMs) : 'none'}`,
      ].join('\n'),
    );
    return 0;
  } finally {
    await closeClient(client);
  }
}

/** Redis records only some waiters: writers waiting for readers (their marks) and the fair line (its tickets). */
function waitingLine(lock: LockDetails): string {
  return `${lock.waiting} recorded (writers waiting for readers, tickets in the fair line); other waiters leave no trace`;
}

type Client = Awaited<ReturnType<Target['connect']>>;

async function showSemaphore(client: Client, target: Target, name: string, json: boolean, out: Output): Promise<number> {
  const semaphore = await readSemaphore({ redis: client, name, prefix: target.prefix, redisTimeout: target.redisTimeout });
  if (semaphore.holders.length === 0 && semaphore.waiting === 0) {
    throw new CliError(`semaphore ${lockTitle(name, target.prefix)} is not held${semaphore.limit === undefined ? '' : ` (limit ${semaphore.limit})`}`);
  }
  if (json) {
    out.stdout(JSON.stringify(semaphore, null, 2));
    return 0;
  }
  const serverNow = Date.now() + (await serverClockOffset(client, target.redisTimeout));
  const limit = semaphore.limit ?? 0;
  const free = Math.max(0, limit - semaphore.held);
  const width = Math.max(...semaphore.holders.map((g) => `${g.permits} permits`.length));
  const grants = semaphore.holders.map((grant) => describeGrant(grant, serverNow, width));
  out.stdout(
    [
      `semaphore  ${lockTitle(name, target.prefix)}`,
      `limit      ${semaphore.limit === undefined ? 'none stored' : limit}  (${semaphore.held} held, ${free} free)`,
      `held by    ${grants[0] ?? 'nobody'}`,
      ...grants.slice(1).map((grant) => `           ${grant}`),
      `waiting    ${semaphore.waiting} recorded (tickets in the fair line); other waiters leave no trace`,
      listeningLine(semaphore.listeners),
      `key ttl    ${semaphore.keyTtlMs >= 0 ? duration(semaphore.keyTtlMs) : 'none'}`,
    ].join('\n'),
  );
  return 0;
}

async function showElection(client: Client, target: Target, name: string, json: boolean, out: Output): Promise<number> {
  const election = await readElection({ redis: client, name, prefix: target.prefix, redisTimeout: target.redisTimeout });
  const { leader } = election;
  if (leader === null) throw new CliError(`election ${lockTitle(name, target.prefix)} has no leader`);
  if (json) {
    out.stdout(JSON.stringify(election, null, 2));
    return 0;
  }
  out.stdout(
    [
      `election   ${lockTitle(name, target.prefix)}`,
      `leader     ${printable(leader.value)}`,
      `term       fence ${leader.fence}  expires in ${duration(leader.expiresInMs)}  value proclaimed ${leader.proclaims} time${leader.proclaims === 1 ? '' : 's'}`,
      listeningLine(election.listeners),
      `key ttl    ${election.keyTtlMs >= 0 ? duration(election.keyTtlMs) : 'none'}`,
    ].join('\n'),
  );
  return 0;
}

function listeningLine(listeners: number): string {
  return `listening  ${listeners} process${listeners === 1 ? '' : 'es'} on its channel (waiting or watching)`;
}
