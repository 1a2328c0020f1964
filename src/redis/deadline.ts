import { LockError } from '../errors';

/**
 * Replies that say "not now" rather than anything about the lock: a script
 * running too long (BUSY), a server loading its data set or demoted to a
 * replica, a primary lost or a cluster slot moving, memory full. The command
 * did not run; the same command may succeed a moment later.
 */
const TRANSIENT_REPLY = /^(BUSY|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|OOM|NOREPLICAS)\b/;

/**
 * Whether an error says nothing about the lock, only that Redis could not be
 * reached (closed connection, retries exhausted, no answer): the command may
 * or may not have run. Replies from Redis and yadl's own verdicts are not.
 */
export function isConnectionProblem(error: unknown): boolean {
  if (error instanceof LockError || error instanceof TypeError) return false;
  return !(error instanceof Error && error.name === 'ReplyError');
}

/**
 * Whether retrying the same command later makes sense: Redis could not be
 * reached, or it answered with a transient refusal. Anything else is a
 * definite answer.
 */
export function isTransient(error: unknown): boolean {
  if (isConnectionProblem(error)) return true;
  return error instanceof Error && TRANSIENT_REPLY.test(error.message);
}
