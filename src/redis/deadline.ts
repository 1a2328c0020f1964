import { LockError } from '../errors';

/**
 * Whether an error says nothing about the lock, only that Redis could not be
 * reached (closed connection, retries exhausted, no answer): the command may
 * or may not have run. Replies from Redis and yadl's own verdicts are not.
 */
export function isConnectionProblem(error: unknown): boolean {
  if (error instanceof LockError || error instanceof TypeError) return false;
  return !(error instanceof Error && error.name === 'ReplyError');
}
