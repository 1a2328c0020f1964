import type { HoldInfoKind } from '../admin/hold-info';
import { HOLD_INFO_KINDS } from '../admin/lock-names';
import { editDistance } from '../core/options';
import { optionValue, type OptionSpec, type ParsedArgs } from './args';
import { UsageError } from './errors';

/** For the commands that read any kind of hold (ls, show). */
export const KIND_OPTION: OptionSpec = {
  name: 'kind',
  value: 'lock|semaphore|election',
  help: 'which kind of hold (a lock, a semaphore, an election)',
};

/** The --kind given, or undefined; UsageError for anything but a kind yadl has. */
export function kindOption(args: ParsedArgs, command: string): HoldInfoKind | undefined {
  const value = optionValue(args, 'kind');
  if (value === undefined || (HOLD_INFO_KINDS as readonly string[]).includes(value)) return value as HoldInfoKind | undefined;
  const hint = HOLD_INFO_KINDS.find((kind) => editDistance(kind, value) <= 2);
  throw new UsageError(
    `--kind must be lock, semaphore or election, got '${value}'${hint === undefined ? '' : ` (did you mean ${hint}?)`}`,
    command,
  );
}
