import { LockError } from '../errors';

/** Resolves as `promise` does, or rejects with `onTimeout()` once `ms` pass first. */
export function withDeadline<T>(promise: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(onTimeout()), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

/**
 * Whether an error says nothing about the lock, only that Redis could not be
 * reached (closed connection, retries exhausted, no answer): the command may
 * or may not have run. Replies from Redis and yadl's own verdicts are not.
 */
export function isConnectionProblem(error: unknown): boolean {
  if (error instanceof LockError || error instanceof TypeError) return false;
  return !(error instanceof Error && error.name === 'ReplyError');
}
