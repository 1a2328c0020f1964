import { createInterface } from 'node:readline';
import { readLock } from '../admin/query';
import { forceReleaseHold } from '../core/lock-state';
import { lockKind } from '../redis/kinds/lock-kind';
import { LockError } from '../errors';
import { JSON_OPTION, type CommandSpec, type ParsedArgs } from './args';
import { CliError, UsageError } from './errors';
import { describeHold, lockTitle } from './format';
import { lockName } from './lock-name';
import type { Output } from './output';
import { serverClockOffset } from './server-clock';
import { KIND_OPTION, kindOption } from './kind-option';
import { closeClient, resolveTarget } from './target';

export const releaseCommand: CommandSpec = {
  name: 'release',
  summary: 'free a lock from whoever holds it (--force)',
  usage: 'release NAME --force [--yes] [options]',
  description: [
    'Frees the lock NAME from every holder in one atomic step and wakes its waiters',
    '(or, when some wait in its fair line, hands it to the head of the line).',
    'The holders are not told at once: each finds out at its next renewal or check',
    "(LockLostError 'gone'), and may still be working meanwhile; use fencing tokens.",
    'Asks for confirmation on a terminal; --yes skips it. Without a terminal and',
    'without --yes it refuses (exit 2). Exits 1 when the lock is not held.',
    'Locks only (a multi-lock is one lock per name): a semaphore\'s permits come back',
    'only from their holder or by expiry, and an election\'s term ends only by',
    'resignation or expiry, by design; --kind semaphore or election is refused.',
  ].join('\n'),
  options: [
    { name: 'force', help: 'required: release whoever holds it' },
    { name: 'yes', short: 'y', help: 'do not ask for confirmation' },
    { ...KIND_OPTION, help: 'lock (the default); semaphore and election are refused' },
    JSON_OPTION,
  ],
  positionals: { min: 1, max: 1, names: 'the NAME of a lock' },
};

export async function release(args: ParsedArgs, out: Output): Promise<number> {
  const target = resolveTarget(args, releaseCommand.name);
  const name = lockName(args, releaseCommand.name);
  const kind = kindOption(args, releaseCommand.name);
  if (kind !== undefined && kind !== 'lock') {
    throw new UsageError(
      kind === 'semaphore'
        ? "release frees locks only: a semaphore's permits come back only from their holder or by expiry"
        : "release frees locks only: an election's term ends only by resignation or expiry",
      releaseCommand.name,
    );
  }
  if (!args.options.has('force')) {
    throw new UsageError('release frees the lock from whoever holds it, so it needs --force', releaseCommand.name);
  }
  const confirm = !args.options.has('yes');
  if (confirm && process.stdin.isTTY !== true) {
    throw new UsageError('stdin is not a terminal, so there is no one to confirm: add --yes', releaseCommand.name);
  }
  const title = lockTitle(name, target.prefix);
  const client = await target.connect();
  try {
    const address = { redis: client, name, prefix: target.prefix, redisTimeout: target.redisTimeout };
    const before = await readLock(address);
    if (before.holds.length === 0) throw new CliError(`lock ${title} is not held`);
    const serverNow = Date.now() + (await serverClockOffset(client, target.redisTimeout));
    if (confirm) {
      const holders = before.holds.map((hold) => `\n  ${describeHold(hold, serverNow)}`).join('');
      if (!(await ask(`force-release lock ${title}, held by:${holders}\nrelease it? [y/N] `))) {
        throw new CliError(`lock ${title} left as it is`);
      }
    }
    let released: boolean;
    try {
      released = await forceReleaseHold({ ...address, kind: lockKind('write') });
    } catch (error) {
      if (error instanceof LockError) throw error;
      throw new LockError(`cannot release lock '${name}': ${error instanceof Error ? error.message : String(error)}`, name, {
        cause: error,
      });
    }
    if (args.options.has('json')) {
      out.stdout(JSON.stringify({ name, prefix: target.prefix, released, holds: released ? before.holds : [] }, null, 2));
    } else if (released) {
      out.stdout(`released lock ${title}; its waiters were woken. It was held by:`);
      for (const hold of before.holds) out.stdout(`  ${describeHold(hold, serverNow)}`);
    } else {
      out.stdout(`lock ${title} was already free`);
    }
    return 0;
  } finally {
    await closeClient(client);
  }
}

function ask(question: string): Promise<boolean> {
  return new Promise((resolve) => {
    const prompt = createInterface({ input: process.stdin, output: process.stderr });
    // Ctrl-D or a closed stdin answers no.
    prompt.once('close', () => resolve(false));
    prompt.question(question, (answer) => {
      resolve(/^\s*y(es)?\s*$/i.test(answer));
      prompt.close();
    });
  });
}
