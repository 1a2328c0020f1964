import { LockError, PermitsRangeError } from '../errors';

/**
 * Whether an error says nothing about the lock, only that Redis could not be
 * reached (closed connection, retries exhausted, no answer): the command may
 * or may not have run. Replies from Redis and yadl's own verdicts are not.
 */
export function isConnectionProblem(error: unknown): boolean {
  // A RangeError is a kind's verdict on the request (a semaphore's permits above its stored limit).
  if (error instanceof LockError || error instanceof TypeError || error instanceof PermitsRangeError) return false;
  return !(error instanceof Error && error.name === 'ReplyError');
}

/**
 * Replies that say "not now" rather than "no": the server is busy (a slow
 * script), loading its data, a replica or cut off from its primary, a
 * cluster without full coverage or in mid-migration, out of memory, or short
 * of the replicas `min-replicas-to-write` asks for. The same command may
 * well succeed a moment later. Matched on the whole first word, so BUSYKEY
 * and BUSYGROUP (real answers) are not among them.
 */
const TRANSIENT_REPLY = /^(BUSY|LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|OOM|NOREPLICAS)(\s|$)/;

/** ioredis' Cluster gives up following MOVED/ASK/TRYAGAIN/CLUSTERDOWN with this (a plain Error). */
const TOO_MANY_REDIRECTIONS = 'Too many Cluster redirections';

/**
 * Whether retrying the same command later may succeed: a connection problem
 * (see isConnectionProblem) or one of Redis' transient replies. Every other
 * reply (WRONGTYPE, NOSCRIPT, NOPERM, a script's error...) and yadl's own
 * errors are answers, and retrying will not change them.
 */
export function isTransient(error: unknown): boolean {
  if (isConnectionProblem(error)) return true;
  if (!(error instanceof Error)) return false;
  if (error.message.startsWith(TOO_MANY_REDIRECTIONS)) return true;
  return error.name === 'ReplyError' && TRANSIENT_REPLY.test(error.message);
}
