import { LockError } from '../errors';
import { CONNECTION_OPTIONS, commandHelp, parseArgs, type CommandSpec, type ParsedArgs } from './args';
import { CliError, EXIT, UsageError } from './errors';
import { oneLine } from './format';
import { leader, leaderCommand } from './leader';
import { ls, lsCommand } from './ls';
import type { Output } from './output';
import { release, releaseCommand } from './release';
import { run, runCommand } from './run';
import { show, showCommand } from './show';
import { watch, watchCommand } from './watch';

interface Command {
  readonly spec: CommandSpec;
  readonly main: (args: ParsedArgs, out: Output) => Promise<number>;
}

const COMMANDS: readonly Command[] = [
  { spec: lsCommand, main: ls },
  { spec: showCommand, main: show },
  { spec: watchCommand, main: watch },
  { spec: releaseCommand, main: release },
  { spec: runCommand, main: run },
  { spec: leaderCommand, main: leader },
];

/** Runs `yadl ARGV...` and resolves with its exit code; reports every failure as one line on stderr. */
export async function cli(argv: readonly string[], out: Output): Promise<number> {
  try {
    const { command, rest } = splitCommand(argv);
    if (command === undefined) {
      if (rest.includes('--help') || rest.includes('-h')) {
        out.stdout(mainHelp());
        return EXIT.ok;
      }
      throw new UsageError(rest.length === 0 ? 'no command given' : `no command in '${rest.join(' ')}'`);
    }
    if (command === 'help') {
      const about = COMMANDS.find((c) => c.spec.name === rest[0]);
      out.stdout(about === undefined ? mainHelp() : commandHelp(about.spec));
      return EXIT.ok;
    }
    const found = COMMANDS.find((c) => c.spec.name === command);
    if (found === undefined) throw new UsageError(`unknown command '${oneLine(command)}'`);
    const args = parseArgs(rest, found.spec);
    if (args.options.has('help')) {
      out.stdout(commandHelp(found.spec));
      return EXIT.ok;
    }
    return await found.main(args, out);
  } catch (error) {
    return report(error, out);
  }
}

/**
 * The command is the first argument that is not an option or an option's
 * value, so that connection options may come before it
 * (`yadl --prefix billing ls`) as well as after.
 */
function splitCommand(argv: readonly string[]): { command: string | undefined; rest: string[] } {
  const before: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') break;
    if (!arg.startsWith('-') || arg === '-') {
      return { command: arg, rest: [...before, ...argv.slice(i + 1)] };
    }
    before.push(arg);
    const option = CONNECTION_OPTIONS.find((o) => `--${o.name}` === arg);
    if (option?.value !== undefined && i + 1 < argv.length) before.push(argv[++i] as string);
  }
  return { command: undefined, rest: [...argv] };
}

function report(error: unknown, out: Output): number {
  if (error instanceof UsageError) {
    const help = error.command === '' ? 'yadl --help' : `yadl ${error.command} --help`;
    out.stderr(`yadl: ${oneLine(error.message)} (see '${help}')`);
    return error.exitCode;
  }
  if (error instanceof CliError) {
    out.stderr(`yadl: ${oneLine(error.message)}`);
    return error.exitCode;
  }
  if (error instanceof LockError) {
    out.stderr(`yadl: ${oneLine(error.message)}`);
    return EXIT.error;
  }
  // Not expected: still one line, never a stack or a client's raw error object.
  out.stderr(`yadl: unexpected error: ${oneLine(error instanceof Error ? error.message : String(error))}`);
  return EXIT.error;
}

function mainHelp(): string {
  const width = Math.max(...COMMANDS.map((c) => c.spec.name.length));
  return [
    'usage: yadl COMMAND [options]',
    '',
    'Inspect and use yadl locks, semaphores and elections on Redis.',
    '',
    'commands:',
    ...COMMANDS.map((c) => `  ${c.spec.name.padEnd(width)}  ${c.spec.summary}`),
    '',
    "'yadl COMMAND --help' tells more. Every command takes --redis URL (or $REDIS_URL;",
    'default redis://127.0.0.1:6379/0) or --cluster HOST:PORT[,...], --prefix PREFIX',
    'and --redis-timeout MS; ls, show, watch, release and leader take --json.',
    '',
    'exit codes: 0 done; 1 failed (Redis unreachable, nothing held, ...); 2 bad',
    'arguments; run: the exit code of the command, 75 not acquired within --timeout,',
    '76 hold lost while the command ran, 126/127 the command could not be run.',
    '',
  ].join('\n');
}
