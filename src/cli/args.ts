import { editDistance } from '../core/options';
import { UsageError } from './errors';

/** One `--option`: a flag, or one that takes a value (`--option VALUE` or `--option=VALUE`). */
export interface OptionSpec {
  readonly name: string;
  /** The value's placeholder in help (e.g. 'MS'); absent for a flag. */
  readonly value?: string;
  readonly help: string;
  /** A one-letter alias, e.g. 'h'. */
  readonly short?: string;
}

export interface CommandSpec {
  readonly name: string;
  /** One line for `yadl --help`. */
  readonly summary: string;
  /** The synopsis after `yadl `, e.g. 'show NAME [options]'. */
  readonly usage: string;
  /** Paragraphs shown by `yadl COMMAND --help` after the synopsis. */
  readonly description: string;
  readonly options: readonly OptionSpec[];
  /** How many positional arguments it takes. */
  readonly positionals: { readonly min: number; readonly max: number; readonly names: string };
  /** Whether everything after `--` is passed on (a command line to run). */
  readonly takesCommand?: boolean;
}

export interface ParsedArgs {
  /** Option name -> its value, or true for a flag; the last occurrence wins. */
  readonly options: ReadonlyMap<string, string | true>;
  readonly positionals: readonly string[];
  /** What followed `--`, for commands that take a command line. */
  readonly command: readonly string[] | undefined;
}

/** Options every command takes. */
export const CONNECTION_OPTIONS: readonly OptionSpec[] = [
  { name: 'redis', value: 'URL', help: 'redis:// or rediss:// URL (default: $REDIS_URL, else redis://127.0.0.1:6379/0)' },
  { name: 'cluster', value: 'HOST:PORT[,...]', help: 'seed nodes of a Redis Cluster, instead of --redis' },
  { name: 'prefix', value: 'PREFIX', help: "the prefix of the locks, semaphores or elections (default: none)" },
  { name: 'redis-timeout', value: 'MS', help: 'how long to wait for Redis to answer (default 10000)' },
  { name: 'help', short: 'h', help: 'show this help' },
];

export const JSON_OPTION: OptionSpec = { name: 'json', help: 'print JSON instead of text' };

/** Parses a command's arguments (after its name); throws UsageError on anything it does not know. */
export function parseArgs(argv: readonly string[], spec: CommandSpec): ParsedArgs {
  const known = [...spec.options, ...CONNECTION_OPTIONS];
  const options = new Map<string, string | true>();
  const positionals: string[] = [];
  let command: string[] | undefined;

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '--') {
      if (!spec.takesCommand) throw new UsageError(`'yadl ${spec.name}' takes no command after --`, spec.name);
      command = argv.slice(i + 1);
      break;
    }
    if (arg.startsWith('--')) {
      const eq = arg.indexOf('=');
      const name = arg.slice(2, eq === -1 ? undefined : eq);
      const option = known.find((o) => o.name === name);
      if (option === undefined) throw unknownOption(`--${name}`, spec, known);
      if (option.value === undefined) {
        if (eq !== -1) throw new UsageError(`--${name} takes no value`, spec.name);
        options.set(name, true);
        continue;
      }
      let value: string | undefined;
      if (eq !== -1) value = arg.slice(eq + 1);
      else if (i + 1 < argv.length && !(argv[i + 1] as string).startsWith('--')) value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value (${option.value})`, spec.name);
      options.set(name, value);
      continue;
    }
    if (arg.startsWith('-') && arg.length > 1) {
      const option = known.find((o) => o.short !== undefined && `-${o.short}` === arg);
      if (option === undefined) throw unknownOption(arg, spec, known);
      options.set(option.name, true);
      continue;
    }
    positionals.push(arg);
  }

  if (options.has('help')) return { options, positionals, command };
  const { min, max, names } = spec.positionals;
  if (positionals.length < min) throw new UsageError(`'yadl ${spec.name}' needs ${names}`, spec.name);
  if (positionals.length > max) {
    const extra = positionals[max] as string;
    const hint = spec.takesCommand ? ' (put the command to run after --)' : '';
    throw new UsageError(`unexpected argument '${extra}'${hint}`, spec.name);
  }
  if (spec.takesCommand && (command === undefined || command.length === 0)) {
    throw new UsageError(`'yadl ${spec.name}' needs a command to run after --`, spec.name);
  }
  return { options, positionals, command };
}

/** The value of an option that takes one, or undefined. */
export function optionValue(args: ParsedArgs, name: string): string | undefined {
  const value = args.options.get(name);
  return typeof value === 'string' ? value : undefined;
}

/** A whole number of milliseconds in [min, max], or the default. */
export function msOption(
  args: ParsedArgs,
  name: string,
  command: string,
  fallback: number,
  min = 0,
  max = 2 ** 31 - 1,
): number {
  const text = optionValue(args, name);
  if (text === undefined) return fallback;
  if (!/^-?\d+$/.test(text.trim())) throw new UsageError(`--${name} must be a whole number of milliseconds, got '${text}'`, command);
  const value = Number(text);
  if (value < min || value > max) throw new UsageError(`--${name} must be between ${min} and ${max} ms, got ${value}`, command);
  return value;
}

function unknownOption(option: string, spec: CommandSpec, known: readonly OptionSpec[]): UsageError {
  const names = known.map((o) => `--${o.name}`);
  const hint = names.find((name) => editDistance(name, option) <= 2);
  return new UsageError(
    `unknown option ${option} for 'yadl ${spec.name}'${hint !== undefined ? ` (did you mean ${hint}?)` : ''}`,
    spec.name,
  );
}

/** `yadl COMMAND --help`. */
export function commandHelp(spec: CommandSpec): string {
  const rows = (options: readonly OptionSpec[]): string[] => {
    const labels = options.map((o) => `${o.short !== undefined ? `-${o.short}, ` : ''}--${o.name}${o.value !== undefined ? ` ${o.value}` : ''}`);
    const width = Math.max(...labels.map((l) => l.length));
    return options.map((o, i) => `  ${(labels[i] as string).padEnd(width)}  ${o.help}`);
  };
  return [
    `usage: yadl ${spec.usage}`,
    '',
    spec.description,
    '',
    ...(spec.options.length > 0 ? ['options:', ...rows(spec.options), ''] : []),
    'connection:',
    ...rows(CONNECTION_OPTIONS),
    '',
  ].join('\n');
}
