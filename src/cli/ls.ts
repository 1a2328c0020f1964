import { query } from '../admin/query';
import { JSON_OPTION, optionValue, type CommandSpec, type ParsedArgs } from './args';
import { duration, heldFor, printable, table } from './format';
import type { Output } from './output';
import { serverClockOffset } from './server-clock';
import { closeClient, resolveTarget } from './target';

export const lsCommand: CommandSpec = {
  name: 'ls',
  summary: 'list the live holds under a prefix',
  usage: 'ls [--match GLOB] [options]',
  description: [
    'Lists every live hold under the prefix: a writer, or each reader, one per line.',
    'On a Redis Cluster every primary is scanned (SCAN, never KEYS). Expiries are',
    "by the Redis server's clock.",
  ].join('\n'),
  options: [{ name: 'match', value: 'GLOB', help: 'only names matching this glob (*, ?, [a-z], \\ escapes)' }, JSON_OPTION],
  positionals: { min: 0, max: 0, names: '' },
};

export async function ls(args: ParsedArgs, out: Output): Promise<number> {
  const target = resolveTarget(args, lsCommand.name);
  const match = optionValue(args, 'match');
  const client = await target.connect();
  try {
    const holds = await query({ redis: client, prefix: target.prefix, match, redisTimeout: target.redisTimeout });
    const serverNow = Date.now() + (await serverClockOffset(client, target.redisTimeout));
    if (args.options.has('json')) {
      out.stdout(JSON.stringify(holds, null, 2));
    } else if (holds.length === 0) {
      out.stdout(`no live holds${target.prefix === '' ? '' : ` under prefix '${printable(target.prefix)}'`}${match === undefined ? '' : ` matching '${printable(match)}'`}`);
    } else {
      const rows = holds.map((h) => [
        printable(h.name),
        h.kind,
        h.mode,
        h.label === undefined ? '-' : printable(h.label),
        String(h.fence),
        heldFor(h, serverNow),
        duration(h.expiresInMs),
      ]);
      out.stdout(table(['NAME', 'KIND', 'MODE', 'LABEL', 'FENCE', 'HELD FOR', 'EXPIRES IN'], rows));
    }
    return 0;
  } finally {
    await closeClient(client);
  }
}
