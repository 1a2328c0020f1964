import { readLock, type LockDetails } from '../admin/query';
import { JSON_OPTION, type CommandSpec, type ParsedArgs } from './args';
import { lockName } from './lock-name';
import { describeHold, duration, lockTitle } from './format';
import { CliError } from './errors';
import type { Output } from './output';
import { serverClockOffset } from './server-clock';
import { closeClient, resolveTarget } from './target';

export const showCommand: CommandSpec = {
  name: 'show',
  summary: 'one lock in detail: holders, waiting writers, ttl',
  usage: 'show NAME [options]',
  description: [
    'Shows who holds the lock NAME now (the writer, or every reader, with fences',
    'and expiries), how many writers wait for its readers to leave, how many',
    "processes listen on its channel (waiters and watchers), and its key's ttl.",
    'Exits 1 when the lock is not held.',
  ].join('\n'),
  options: [JSON_OPTION],
  positionals: { min: 1, max: 1, names: 'the NAME of a lock' },
};

export async function show(args: ParsedArgs, out: Output): Promise<number> {
  const target = resolveTarget(args, showCommand.name);
  const name = lockName(args, showCommand.name);
  const client = await target.connect();
  try {
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
        `listening  ${lock.listeners} process${lock.listeners === 1 ? '' : 'es'} on its channel (waiting or watching)`,
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
