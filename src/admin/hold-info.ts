import type { HoldMode } from '../core/options';

/**
 * One live hold, as an operator sees it: a writer, or one of the readers.
 * Never carries the owner token: whoever can read this must not be able to
 * release or renew someone else's hold with it.
 */
export interface HoldInfo {
  readonly name: string;
  readonly prefix: string;
  /** What holds the name; only locks exist so far. */
  readonly kind: 'lock';
  /** `write` for exclusive and write holds, `read` for each shared one. */
  readonly mode: HoldMode;
  /** The hold's fencing token. */
  readonly fence: number;
  /** What the holder said it is doing, when it said so. */
  readonly label?: string;
  /** When the hold was taken, epoch ms by the Redis server's clock, when Redis records it. */
  readonly since?: number;
  /** Until the hold ends unless renewed, by the Redis server's clock. */
  readonly expiresInMs: number;
  /**
   * Writers waiting for the readers of this name to leave (their marks in
   * Redis). A lower bound: waiters blocked by a writer leave no trace in Redis.
   */
  readonly waiting: number;
}

/** What one lock's state hash says at one instant. */
export interface LockReading {
  /** The writer first, then readers by fence. */
  readonly holds: HoldInfo[];
  /** Live writer marks; see HoldInfo.waiting. */
  readonly waiting: number;
}

interface Holder {
  readonly mode: HoldMode;
  readonly fence: number;
  readonly expiry: number;
}

const READER_VALUE = /^(\d+):(\d+)$/;

/**
 * The one place that knows the state hash's fields (see acquire-2.lua):
 * `w`/`wf`/`wx` the writer's token, fence and expiry, `r:<token>` =
 * `<expiry>:<fence>` per reader, `q:<token>` = `<expiry>` per waiting writer.
 * Holds whose expiry has passed at `nowMs` (the server's clock) are dead
 * even if their field is still there. Fields it does not know are ignored, so
 * that state stored beside a hold by a newer yadl does not break older readers.
 */
export function readLockHash(
  name: string,
  prefix: string,
  fields: Readonly<Record<string, string>>,
  nowMs: number,
): LockReading {
  // Keyed by token only while reading: tokens never leave this function.
  const holders = new Map<string, Holder>();
  let waiting = 0;

  const writerExpiry = Number(fields.wx);
  const writerFence = Number(fields.wf);
  if (fields.w !== undefined && writerExpiry > nowMs && Number.isSafeInteger(writerFence)) {
    holders.set(fields.w, { mode: 'write', fence: writerFence, expiry: writerExpiry });
  }
  for (const [field, value] of Object.entries(fields)) {
    if (field.startsWith('r:')) {
      const match = READER_VALUE.exec(value);
      if (match === null) continue;
      const expiry = Number(match[1]);
      if (expiry > nowMs) holders.set(field.slice(2), { mode: 'read', fence: Number(match[2]), expiry });
    } else if (field.startsWith('q:')) {
      if (Number(/^\d+/.exec(value)?.[0]) > nowMs) waiting += 1;
    }
  }

  const holds = [...holders.values()]
    .sort((a, b) => (a.mode === b.mode ? a.fence - b.fence : a.mode === 'write' ? -1 : 1))
    .map(
      (holder): HoldInfo => ({
        name,
        prefix,
        kind: 'lock',
        mode: holder.mode,
        fence: holder.fence,
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
