import { channel, tracingChannel, type Channel, type TracingChannel } from 'node:diagnostics_channel';
import type { LockLostReason } from '../errors';
import type { HoldMode } from '../core/options';
import { debugEnabled, debugLock } from './debug';

/**
 * yadl's `node:diagnostics_channel` events. The core calls the functions
 * below at each step of a lock's life; each returns at once, having built
 * nothing, when nobody subscribes (and NODE_DEBUG=yadl is off). Messages
 * name the lock, never its owner token, and are never the Lease itself
 * (which carries the token).
 */

export const ACQUIRE_CHANNEL = 'yadl:acquire';
export const RELEASE_CHANNEL = 'yadl:release';
export const LOST_CHANNEL = 'yadl:lost';

/** What is being acquired: locks now; semaphores and elections will use the same channels. */
export type LockKind = 'lock' | 'semaphore' | 'election';

/** The lock an event is about, as the core knows it (a LockSettings fits). */
export interface TracedLock {
  readonly name: string;
  readonly prefix: string;
  readonly mode: HoldMode;
  /** The kind of hold (its `kind` names it); absent: a lock. */
  readonly kind?: { readonly kind: string };
  /** Absent: false. */
  readonly fair?: boolean;
}

/** Kinds name themselves (see TracedLock); these are the names they use. */
function kindOf(lock: TracedLock): LockKind {
  return (lock.kind?.kind ?? 'lock') as LockKind;
}

/** The context of one acquisition on the `yadl:acquire` tracing channel, the same object at every event. */
export interface AcquireMessage {
  readonly name: string;
  /** '' when the lock has none. */
  readonly prefix: string;
  readonly kind: LockKind;
  /** 'write' (exclusive and write locks) or 'read'. */
  readonly mode: HoldMode;
  /** Whether it waits in a fair line (arrival order across processes), as its settings say; false without one. */
  readonly fair: boolean;
  /** On grant: the hold's fencing token. */
  readonly fence?: number;
  /** Once the wait is over (granted, failed or left): ms since it started. */
  readonly waitMs?: number;
  /** On failure: LockTimeoutError, RedisUnavailableError, the signal's reason... */
  readonly error?: unknown;
}

/** A `yadl:release` message: the owner released the hold (unsubscribe, release(), an aborted signal, a force release). */
export interface ReleaseMessage {
  readonly name: string;
  readonly prefix: string;
  readonly kind: LockKind;
  readonly mode: HoldMode;
  readonly fence: number;
  /** ms from the grant to the release. */
  readonly heldMs: number;
}

/** A `yadl:lost` message: the hold ended without its owner (see LockLostError). */
export interface LostMessage extends ReleaseMessage {
  readonly reason: LockLostReason;
}

/**
 * An acquisition's context. The wait's start time and whether it is still
 * open are private fields, so subscribers see only the message's fields.
 */
export class AcquireContext implements AcquireMessage {
  readonly name: string;
  readonly prefix: string;
  readonly kind: LockKind;
  readonly mode: HoldMode;
  readonly fair: boolean;
  declare fence?: number;
  declare waitMs?: number;
  declare error?: unknown;
  readonly #startedAt = performance.now();
  #open = true;

  constructor(lock: TracedLock) {
    this.name = lock.name;
    this.prefix = lock.prefix;
    this.kind = kindOf(lock);
    this.mode = lock.mode;
    this.fair = lock.fair ?? false;
  }

  /** Ends the wait once: false if it already ended. */
  close(): boolean {
    if (!this.#open) return false;
    this.#open = false;
    this.waitMs = performance.now() - this.#startedAt;
    return true;
  }
}

// Module-level references also keep Node 20's weakly held channels (and their subscribers) alive.
const acquire: TracingChannel<unknown, AcquireContext> = tracingChannel(ACQUIRE_CHANNEL);
const released: Channel = channel(RELEASE_CHANNEL);
const lost: Channel = channel(LOST_CHANNEL);

/** TracingChannel#hasSubscribers appeared in Node 20.13; this is what it does. */
function acquireObserved(): boolean {
  return (
    acquire.start.hasSubscribers ||
    acquire.end.hasSubscribers ||
    acquire.asyncStart.hasSubscribers ||
    acquire.asyncEnd.hasSubscribers ||
    acquire.error.hasSubscribers
  );
}

/**
 * An acquisition begins: publishes `start` (and `end`: the synchronous part
 * of an acquisition is only sending its first attempt). Undefined, having
 * built nothing, when nobody listens.
 */
export function acquireStarted(lock: TracedLock): AcquireContext | undefined {
  if (!debugEnabled && !acquireObserved()) return undefined;
  const context = new AcquireContext(lock);
  acquire.start.publish(context);
  acquire.end.publish(context);
  if (debugEnabled) debugLock(lock, 'acquisition started');
  return context;
}

/** Granted: `asyncStart` and `asyncEnd` with `fence` and `waitMs`. Once per context. */
export function acquireGranted(context: AcquireContext | undefined, fence: number): void {
  if (context === undefined || !context.close()) return;
  context.fence = fence;
  acquire.asyncStart.publish(context);
  acquire.asyncEnd.publish(context);
  if (debugEnabled) debugLock(context, 'granted after %d ms, fence %d', Math.round(context.waitMs ?? 0), fence);
}

/**
 * Failed while waiting (timeout, abort, Redis unavailable...): `error`, then
 * `asyncStart` and `asyncEnd`, as TracingChannel#tracePromise does on a
 * rejection, so a subscriber that ends its work at `asyncEnd` always can.
 * Nothing once the wait is over (a lost hold is `yadl:lost`).
 */
export function acquireFailed(context: AcquireContext | undefined, error: unknown): void {
  if (context === undefined || !context.close()) return;
  context.error = error;
  acquire.error.publish(context);
  acquire.asyncStart.publish(context);
  acquire.asyncEnd.publish(context);
  if (debugEnabled) debugLock(context, 'failed after %d ms: %s', Math.round(context.waitMs ?? 0), errorName(error));
}

/** The subscriber left while waiting: `asyncStart` and `asyncEnd`, with neither `fence` nor `error`. */
export function acquireLeft(context: AcquireContext | undefined): void {
  if (context === undefined || !context.close()) return;
  acquire.asyncStart.publish(context);
  acquire.asyncEnd.publish(context);
  if (debugEnabled) debugLock(context, 'left the wait after %d ms', Math.round(context.waitMs ?? 0));
}

/** Its owner ended the hold granted at `heldSince` (performance.now()). */
export function holdReleased(lock: TracedLock, fence: number, heldSince: number): void {
  if (released.hasSubscribers) {
    const message: ReleaseMessage = {
      name: lock.name,
      prefix: lock.prefix,
      kind: kindOf(lock),
      mode: lock.mode,
      fence,
      heldMs: performance.now() - heldSince,
    };
    released.publish(message);
  }
  if (debugEnabled) debugLock(lock, 'released, fence %d', fence);
}

/** The hold granted at `heldSince` ended without its owner, for `reason`. */
export function holdLost(lock: TracedLock, fence: number, reason: LockLostReason, heldSince: number): void {
  if (lost.hasSubscribers) {
    const message: LostMessage = {
      name: lock.name,
      prefix: lock.prefix,
      kind: kindOf(lock),
      mode: lock.mode,
      fence,
      reason,
      heldMs: performance.now() - heldSince,
    };
    lost.publish(message);
  }
  if (debugEnabled) debugLock(lock, 'lost (%s), fence %d', reason, fence);
}

/** An error's class, not its message: an abort reason is the caller's and may say anything. */
function errorName(error: unknown): string {
  return error instanceof Error ? error.name : typeof error;
}
