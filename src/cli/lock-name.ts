import { checkName } from '../core/options';
import type { ParsedArgs } from './args';
import { UsageError } from './errors';

/** The command's NAME argument, checked as lock$ would check it. */
export function lockName(args: ParsedArgs, command: string): string {
  try {
    return checkName(args.positionals[0]);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), command);
  }
}
