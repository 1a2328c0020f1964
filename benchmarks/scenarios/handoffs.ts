/**
 * Each logical worker logs its acquisitions as a flat array
 * [waitStart, acquiredAt, releasedAt, ...] on the shared clock. Holds of one
 * lock never overlap, so sorting every log by acquiredAt gives the order in
 * which the lock passed from holder to holder.
 */
export type AcquisitionLog = number[];

export interface Handoffs {
  /** Acquisitions that happened before `until`. */
  acquisitions: number;
  perWorker: number[];
  /** Release to acquisition by a different worker that was already waiting, ms. */
  delays: number[];
  /** The releasing worker took the lock again. */
  selfRetakes: number;
  /** A different worker that had not been waiting yet at the release. */
  freeGrabs: number;
}

export const LOG_STRIDE = 3;

export function analyzeHandoffs(logs: readonly AcquisitionLog[], until: number): Handoffs {
  const events: { worker: number; waitStart: number; acquiredAt: number; releasedAt: number }[] = [];
  logs.forEach((log, worker) => {
    for (let i = 0; i + LOG_STRIDE - 1 < log.length; i += LOG_STRIDE) {
      const [waitStart, acquiredAt, releasedAt] = [log[i], log[i + 1], log[i + 2]] as [number, number, number];
      if (acquiredAt <= until) events.push({ worker, waitStart, acquiredAt, releasedAt });
    }
  });
  events.sort((a, b) => a.acquiredAt - b.acquiredAt);
  const result: Handoffs = { acquisitions: events.length, perWorker: logs.map(() => 0), delays: [], selfRetakes: 0, freeGrabs: 0 };
  events.forEach((event, i) => {
    result.perWorker[event.worker] = (result.perWorker[event.worker] ?? 0) + 1;
    const previous = events[i - 1];
    if (previous === undefined || !Number.isFinite(previous.releasedAt)) return;
    if (previous.worker === event.worker) result.selfRetakes += 1;
    else if (event.waitStart < previous.releasedAt) result.delays.push(event.acquiredAt - previous.releasedAt);
    else result.freeGrabs += 1;
  });
  return result;
}

/**
 * Began waiting this much later than another and still acquired first: an
 * overtake. Less than that is left alone, as two first attempts may reach
 * Redis in another order than the processes made them.
 */
export const OVERTAKE_SLACK_MS = 1;

/**
 * Acquisitions (before `until`) that a worker which began waiting more than
 * OVERTAKE_SLACK_MS later got ahead of: 0 for a first-come-first-served lock.
 */
export function overtaken(logs: readonly AcquisitionLog[], until: number): number {
  const waits: { waitStart: number; acquiredAt: number }[] = [];
  for (const log of logs) {
    for (let i = 0; i + LOG_STRIDE - 1 < log.length; i += LOG_STRIDE) {
      const [waitStart, acquiredAt] = [log[i], log[i + 1]] as [number, number];
      if (acquiredAt <= until) waits.push({ waitStart, acquiredAt });
    }
  }
  waits.sort((a, b) => a.acquiredAt - b.acquiredAt);
  let count = 0;
  // Walking in acquisition order: an acquisition was overtaken if one before it began waiting later than it did.
  let latestStart = -Infinity;
  for (const w of waits) {
    if (latestStart > w.waitStart + OVERTAKE_SLACK_MS) count += 1;
    latestStart = Math.max(latestStart, w.waitStart);
  }
  return count;
}
