import type { HoldMode } from '../core/options';

/** The kinds of hold `query` reports; the `kind` each HoldInfo carries. */
export type HoldInfoKind = 'lock' | 'semaphore' | 'election';

/** What `query` reports: one entry per lock hold, per semaphore in use, per election with a leader. Narrow it by `kind`. */
export type HoldInfo = LockHoldInfo | SemaphoreInfo | ElectionInfo;

/**
 * One live lock hold, as an operator sees it: a writer, or one of the readers.
 * Never carries the owner token: whoever can read this must not be able to
 * release or renew someone else's hold with it.
 */
export interface LockHoldInfo {
  readonly name: string;
  readonly prefix: string;
  readonly kind: 'lock';
  /** `write` for exclusive and write holds, `read` for each shared one. */
  readonly mode: HoldMode;
  /** The hold's fencing token. */
  readonly fence: number;
  /** Who holds it, as the holder labelled itself (lock$'s `label`; by default `<hostname>:<pid>`). */
  readonly label?: string;
  /** When the hold was taken, epoch ms by the Redis server's clock; recorded with the label. */
  readonly since?: number;
  /** Until the hold ends unless renewed, by the Redis server's clock. */
  readonly expiresInMs: number;
  /**
   * Waiters Redis records for this name: writers waiting for its readers to
   * leave (their marks) and waiters in its fair line (their tickets). A lower
   * bound: other waiters leave no trace in Redis.
   */
  readonly waiting: number;
}

/** One semaphore with permits held: its limit and every live grant. */
export interface SemaphoreInfo {
  readonly name: string;
  readonly prefix: string;
  readonly kind: 'semaphore';
  /** The limit stored in Redis (absent only for a hash without one, which yadl never leaves while permits are held). */
  readonly limit?: number;
  /** Permits held by live grants, everyone's (may exceed a lowered limit). */
  readonly held: number;
  /** Every live grant, by fence. */
  readonly holders: SemaphoreHolder[];
  /** Tickets in the semaphore's fair line: a lower bound, as for locks (other waiters leave no trace). */
  readonly waiting: number;
}

/** One grant of a semaphore: permits held under one owner token (never shown). */
export interface SemaphoreHolder {
  readonly permits: number;
  readonly fence: number;
  /** As a lock hold's `label`. */
  readonly label?: string;
  /** As a lock hold's `since`. */
  readonly since?: number;
  readonly expiresInMs: number;
}

/** One election with a live leader. */
export interface ElectionInfo {
  readonly name: string;
  readonly prefix: string;
  readonly kind: 'election';
  /** The leader's value (elect$'s `value`, or the last one it proclaimed). */
  readonly value: string;
  /** The term's number, its fencing token. */
  readonly fence: number;
  /** Until the term ends unless renewed, by the Redis server's clock. */
  readonly expiresInMs: number;
  /** How many times the leader proclaimed a new value in this term. */
  readonly proclaims: number;
}

/** What one lock's state hash says at one instant. */
export interface LockReading {
  /** The writer first, then readers by fence. */
  readonly holds: LockHoldInfo[];
  /** Waiters Redis records; see HoldInfo.waiting. */
  readonly waiting: number;
}

interface Holder {
  readonly mode: HoldMode;
  readonly fence: number;
  readonly expiry: number;
  label?: string;
  since?: number;
}

/** `<expiry>:<fence>` */
const READER_VALUE = /^(\d+):(\d+)$/;
/** `<since>:<label>` (the writer's `wl`) or `<expiry>:<since>:<label>` (a reader's `l:<token>`); labels may hold anything. */
const WRITER_LABEL = /^(\d+):([\s\S]*)$/;
const READER_LABEL = /^(\d+):(\d+):([\s\S]*)$/;
/** Values of marks, tickets and anything else that expires start with the expiry. */
const EXPIRY = /^(\d+)/;

/**
 * The one place that knows the state hash's fields (the layout is described
 * in src/redis/scripts/includes/read-holders.lua): `w`/`wf`/`wx` the
 * writer's token, fence and expiry, `wl` = `<since>:<label>` beside it;
 * `r:<token>` = `<expiry>:<fence>` per reader, `l:<token>` =
 * `<expiry>:<since>:<label>` beside it; `q:<token>` = `<expiry>` a writer
 * waiting for the readers; `t:<token>` = `<expiry>:...` a ticket in the fair
 * line. Anything whose expiry has passed at `nowMs` (the server's clock) is
 * dead even if its field is still there. Fields it does not know are
 * ignored, as the scripts leave a newer version's fields alone.
 */
export function readLockHash(
  name: string,
  prefix: string,
  fields: Readonly<Record<string, string>>,
  nowMs: number,
): LockReading {
  // Keyed by token only while reading: tokens never leave this function.
  const holders = new Map<string, Holder>();
  const waiters = new Set<string>();
  const readerLabels = new Map<string, string>();

  const writerExpiry = Number(fields.wx);
  const writerFence = Number(fields.wf);
  if (fields.w !== undefined && writerExpiry > nowMs && Number.isSafeInteger(writerFence)) {
    const writer: Holder = { mode: 'write', fence: writerFence, expiry: writerExpiry };
    const label = WRITER_LABEL.exec(fields.wl ?? '');
    if (label !== null) {
      writer.since = Number(label[1]);
      writer.label = label[2];
    }
    holders.set(`w:${fields.w}`, writer);
  }
  for (const [field, value] of Object.entries(fields)) {
    const tag = field.slice(0, 2);
    const token = field.slice(2);
    if (tag === 'r:') {
      const match = READER_VALUE.exec(value);
      if (match !== null && Number(match[1]) > nowMs) {
        holders.set(`r:${token}`, { mode: 'read', fence: Number(match[2]), expiry: Number(match[1]) });
      }
    } else if (tag === 'l:') {
      readerLabels.set(token, value);
    } else if (tag === 'q:' || tag === 't:') {
      if (Number(EXPIRY.exec(value)?.[1]) > nowMs) waiters.add(token);
    }
  }
  for (const [token, value] of readerLabels) {
    const reader = holders.get(`r:${token}`);
    const label = READER_LABEL.exec(value);
    if (reader === undefined || label === null) continue;
    reader.since = Number(label[2]);
    reader.label = label[3];
  }

  const waiting = waiters.size;
  const holds = [...holders.values()]
    .sort((a, b) => (a.mode === b.mode ? a.fence - b.fence : a.mode === 'write' ? -1 : 1))
    .map(
      (holder): LockHoldInfo => ({
        name,
        prefix,
        kind: 'lock',
        mode: holder.mode,
        fence: holder.fence,
        ...(holder.label === undefined ? {} : { label: holder.label }),
        ...(holder.since === undefined ? {} : { since: holder.since }),
        expiresInMs: holder.expiry - nowMs,
        waiting,
      }),
    );
  return { holds, waiting };
}

/** Redis TIME's reply as epoch milliseconds. */
export function serverMs(time: unknown): number {
  if (Array.isArray(time) && time.length === 2) {
    const [seconds, micros] = time.map(Number) as [number, number];
    if (Number.isFinite(seconds) && Number.isFinite(micros)) return seconds * 1000 + Math.floor(micros / 1000);
  }
  throw new TypeError(`unexpected reply to TIME: ${JSON.stringify(time)}`);
}
