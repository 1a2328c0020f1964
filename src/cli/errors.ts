/** What `yadl` exits with. */
export const EXIT = {
  ok: 0,
  /** Something went wrong: Redis unreachable or refusing, a lock not found, a confirmation declined. */
  error: 1,
  /** Bad arguments: nothing was done. */
  usage: 2,
  /** `run`: the lock was not acquired within --timeout (EX_TEMPFAIL). */
  timeout: 75,
  /** `run`: the hold was lost while the command ran; the command was stopped. */
  lost: 76,
  /** `run`: the command could not be executed. */
  cannotExecute: 126,
  /** `run`: the command was not found. */
  notFound: 127,
} as const;

/** An error the CLI reports as one line and an exit code. */
export class CliError extends Error {
  override name = 'CliError';

  constructor(
    message: string,
    readonly exitCode: number = EXIT.error,
  ) {
    super(message);
  }
}

/** Bad arguments: reported with a pointer to the command's help, exit code 2. */
export class UsageError extends CliError {
  override name = 'UsageError';

  constructor(
    message: string,
    /** The command whose --help to point at ('' for yadl itself). */
    readonly command = '',
  ) {
    super(message, EXIT.usage);
  }
}
