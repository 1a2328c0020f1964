import type { HoldInfo } from '../admin/hold-info';
import { query } from '../admin/query';
import { JSON_OPTION, optionValue, type CommandSpec, type ParsedArgs } from './args';
import { duration, heldFor, printable, table } from './format';
import type { Output } from './output';
import { serverClockOffset } from './server-clock';
import { KIND_OPTION, kindOption } from './kind-option';
import { closeClient, resolveTarget } from './target';

export const lsCommand: CommandSpec = {
  name: 'ls',
  summary: 'list the live holds under a prefix: locks, semaphores, elections',
  usage: 'ls [--match GLOB] [--kind KIND] [options]',
  description: [
    'Lists every live hold under the prefix, one per line: a lock\'s writer or each',
    "of its readers (MODE write or read), each grant of a semaphore's permits (MODE",
    "'2 of 5': the grant's permits of the limit), the leader of an election (MODE",
    "leader, LABEL its value, FENCE its term). On a Redis Cluster every primary is",
    "scanned (SCAN, never KEYS). Expiries are by the Redis server's clock.",
  ].join('\n'),
  options: [
    { name: 'match', value: 'GLOB', help: 'only names matching this glob (*, ?, [a-z], \\ escapes)' },
    KIND_OPTION,
    JSON_OPTION,
  ],
  positionals: { min: 0, max: 0, names: '' },
};

export async function ls(args: ParsedArgs, out: Output): Promise<number> {
  const target = resolveTarget(args, lsCommand.name);
  const match = optionValue(args, 'match');
  const kind = kindOption(args, lsCommand.name);
  const client = await target.connect();
  try {
    const holds = await query({ redis: client, prefix: target.prefix, match, kind, redisTimeout: target.redisTimeout });
    const serverNow = Date.now() + (await serverClockOffset(client, target.redisTimeout));
    if (args.options.has('json')) {
      out.stdout(JSON.stringify(holds, null, 2));
    } else if (holds.length === 0) {
      out.stdout(`no live ${kind === undefined ? 'holds' : `${kind}s`}${target.prefix === '' ? '' : ` under prefix '${printable(target.prefix)}'`}${match === undefined ? '' : ` matching '${printable(match)}'`}`);
    } else {
      const rows = holds.flatMap((h) => rowsOf(h, serverNow));
      out.stdout(table(['NAME', 'KIND', 'MODE', 'LABEL', 'FENCE', 'HELD FOR', 'EXPIRES IN'], rows));
    }
    return 0;
  } finally {
    await closeClient(client);
  }
}

/** One row per lock hold, per semaphore grant, per election leader: NAME KIND MODE LABEL FENCE HELD-FOR EXPIRES-IN. */
function rowsOf(hold: HoldInfo, serverNow: number): string[][] {
  const label = (text: string | undefined): string => (text === undefined ? '-' : printable(text));
  const name = printable(hold.name);
  switch (hold.kind) {
    case 'lock':
      return [[name, hold.kind, hold.mode, label(hold.label), String(hold.fence), heldFor(hold, serverNow), duration(hold.expiresInMs)]];
    case 'semaphore':
      return hold.holders.map((grant) => [
        name,
        hold.kind,
        `${grant.permits} of ${hold.limit ?? '?'}`,
        label(grant.label),
        String(grant.fence),
        heldFor(grant, serverNow),
        duration(grant.expiresInMs),
      ]);
    case 'election':
      return [[name, hold.kind, 'leader', label(hold.value), String(hold.fence), '-', duration(hold.expiresInMs)]];
  }
}
