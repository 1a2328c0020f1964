import { debuglog } from 'node:util';

/**
 * `NODE_DEBUG=yadl` tracing: one line per attempt, wake-up, renewal, loss
 * and subscriber reconnect, on stderr (Node's `util.debuglog`). Lines name
 * the lock (name, prefix, mode), never an owner token.
 */

/** What a debug line says about a lock: never its owner token. */
export interface DebuggedLock {
  readonly name: string;
  readonly prefix: string;
  readonly mode: string;
}

/** What an attempt's reply says, as far as a debug line tells (any kind's acquire reply fits). */
export type AttemptReply =
  | { readonly acquired: true; readonly fence: number; readonly leftMs: number }
  | { readonly acquired: false; readonly waitMs: number; readonly queued: boolean; readonly behindWriter: boolean };

const log = debuglog('yadl');

/**
 * Node reads NODE_DEBUG once, at startup: a constant lets every call site
 * return before formatting anything when it is off.
 */
export const debugEnabled: boolean = log.enabled;

/** A line of the lock's life (acquisition started, granted, failed, released, lost); `format` as util.format's. */
export function debugLock(lock: DebuggedLock, format: string, ...args: unknown[]): void {
  if (!debugEnabled) return;
  log(`%s: ${format}`, label(lock), ...args);
}

export function debugAttempt(lock: DebuggedLock, reply: AttemptReply): void {
  if (!debugEnabled) return;
  if (reply.acquired) {
    log('%s: attempt acquired, fence %d, %d ms left', label(lock), reply.fence, reply.leftMs);
  } else {
    const mark = reply.queued ? ', its writer mark holds new readers back' : reply.behindWriter ? ', behind a waiting writer' : '';
    log('%s: attempt blocked, deadline retry in %d ms%s', label(lock), reply.waitMs, mark);
  }
}

/** A command without a definite answer (unreachable, BUSY...): it is retried. */
export function debugTrouble(lock: Partial<DebuggedLock>, command: string, error: unknown): void {
  if (!debugEnabled) return;
  log('%s: %s got no definite answer (%s), retrying', label(lock), command, describe(error));
}

/** A renewal (or, for a fixed ttl, a check) answered: `leftMs` 0 means the hold is gone. */
export function debugRenewal(lock: Partial<DebuggedLock>, renewal: boolean, leftMs: number): void {
  if (!debugEnabled) return;
  const what = renewal ? 'renewal' : 'check';
  if (leftMs === 0) log('%s: %s found the hold gone', label(lock), what);
  else log('%s: %s done, %d ms left', label(lock), what, leftMs);
}

/** The wait queue of `channel` makes an attempt for its head because of `cause`. */
export function debugWake(channel: string, cause: string): void {
  if (!debugEnabled) return;
  log('wake-up on %s: %s', channel, cause);
}

/** Something happened to a subscriber connection (`server` carries no credentials). */
export function debugSubscriber(server: string, what: string): void {
  if (!debugEnabled) return;
  log('subscriber %s: %s', server, what);
}

/** A HoldKeeper made without the lock's name (a unit spec's) still gets a line. */
function label(lock: Partial<DebuggedLock>): string {
  const prefix = lock.prefix === undefined || lock.prefix === '' ? '' : ` (prefix '${lock.prefix}')`;
  return `lock '${lock.name ?? '?'}'${prefix} ${lock.mode ?? '?'}`;
}

/**
 * Errors from yadl never carry a token, and ioredis' command arguments are
 * not printed here; a long hex run in a server's message is cut all the same,
 * so that no reply quoting a script's arguments can leak one.
 */
function describe(error: unknown): string {
  const text = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
  return text.replace(/[0-9a-f]{32,}/gi, '[hex]').slice(0, 300);
}
