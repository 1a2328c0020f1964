/**
 * ioredis attaches the failed command to its errors (`error.command.args`):
 * for yadl's scripts that is the owner token, for AUTH the password. Loggers
 * print it, so yadl strips the arguments from every error it passes on.
 */
export function redact<T>(error: T): T {
  if (typeof error === 'object' && error !== null && 'command' in error) {
    const command = (error as { command?: { name?: unknown } }).command;
    (error as { command?: unknown }).command = { name: command?.name, args: ['[redacted by yadl]'] };
  }
  if (error instanceof Error && error.cause !== undefined) redact(error.cause);
  return error;
}
