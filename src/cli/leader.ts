import { Subscription } from 'rxjs';
import { readElection } from '../admin/query';
import { leader$ } from '../core/leader';
import type { Leader } from '../core/term';
import { JSON_OPTION, type CommandSpec, type ParsedArgs } from './args';
import { CliError } from './errors';
import { clock, duration, lockTitle, printable } from './format';
import { KEYSPACE_EVENTS_OPTION, keyspaceEventsOption } from './keyspace-option';
import { lockName } from './lock-name';
import type { Output } from './output';
import { closeClient, resolveTarget, type Target } from './target';

export const leaderCommand: CommandSpec = {
  name: 'leader',
  summary: 'who leads an election; with --watch, every change until Ctrl-C',
  usage: 'leader NAME [--watch] [--json] [options]',
  description: [
    'Prints who leads the election NAME: its term (the fence), what its lease has left',
    "and the leader's value. Exits 1 when nobody leads.",
    'With --watch (as etcdctl elect --listen): the leader now, then a line for every',
    "change until Ctrl-C: 'leader' for a new term or a value proclaimed in one, 'none'",
    "when a term ended and nobody leads yet. It follows the election's channel as",
    "leader$ does (Redis' expiry events: see --keyspace-events) and sends nothing",
    'while the leadership does not change. Nobody leading is no error then.',
    'With --json: one JSON object (--watch: one per line, {at, leader}).',
  ].join('\n'),
  options: [{ name: 'watch', help: 'print every change of leader until Ctrl-C' }, KEYSPACE_EVENTS_OPTION, JSON_OPTION],
  positionals: { min: 1, max: 1, names: 'the NAME of an election' },
};

export async function leader(args: ParsedArgs, out: Output): Promise<number> {
  const target = resolveTarget(args, leaderCommand.name);
  const name = lockName(args, leaderCommand.name);
  const keyspaceEvents = keyspaceEventsOption(args, leaderCommand.name);
  const json = args.options.has('json');
  const client = await target.connect();
  try {
    if (args.options.has('watch')) {
      if (!json) out.stderr(`watching election ${lockTitle(name, target.prefix)} at ${target.where}; Ctrl-C to stop`);
      return await follow(name, target, client, json, keyspaceEvents, out);
    }
    const { leader: now } = await readElection({ redis: client, name, prefix: target.prefix, redisTimeout: target.redisTimeout });
    if (now === null) throw new CliError(`election ${lockTitle(name, target.prefix)} has no leader`);
    out.stdout(json ? JSON.stringify(now, null, 2) : `term ${now.fence}  expires in ${duration(now.expiresInMs)}  value ${printable(now.value)}`);
    return 0;
  } finally {
    await closeClient(client);
  }
}

/** Prints every leader leader$ emits until SIGINT or SIGTERM (exit 0), or until it errors (rejects with its error). */
function follow(
  name: string,
  target: Target,
  client: Awaited<ReturnType<Target['connect']>>,
  json: boolean,
  keyspaceEvents: ReturnType<typeof keyspaceEventsOption>,
  out: Output,
): Promise<number> {
  return new Promise((resolve, reject) => {
    const print = (now: Leader | null): void => {
      if (json) out.stdout(JSON.stringify({ at: new Date().toISOString(), leader: now }));
      else if (now === null) out.stdout(`${clock()}  none    nobody leads`);
      else out.stdout(`${clock()}  leader  term ${now.fence}  value ${printable(now.value)}`);
    };
    // Added to once subscribed; an error delivered during subscribe has unsubscribed it, and then what is added ends at once.
    const subscription = new Subscription();
    const end = (): void => {
      subscription.unsubscribe();
      process.off('SIGINT', onSignal);
      process.off('SIGTERM', onSignal);
    };
    const onSignal = (): void => {
      end();
      resolve(0);
    };
    process.on('SIGINT', onSignal);
    process.on('SIGTERM', onSignal);
    const leaders = leader$(name, { redis: client, prefix: target.prefix, redisTimeout: target.redisTimeout, keyspaceEvents });
    subscription.add(
      leaders.subscribe({
        next: print,
        error: (error: unknown) => {
          end();
          reject(error instanceof Error ? error : new Error(String(error)));
        },
      }),
    );
  });
}
