/**
 * One clock for every process of a run: `performance.timeOrigin` is the wall
 * clock at process start (microsecond precision) and `performance.now()` the
 * monotonic time since, so their sum can be compared between processes on one
 * machine (the harness measures how well: see `probeClocks`).
 */
export function now(): number {
  return performance.timeOrigin + performance.now();
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, Math.max(0, ms)));
}

export function sleepUntil(at: number): Promise<void> {
  return sleep(at - now());
}

/** A hold shorter than a timer tick (e.g. 0.2 ms) can only be a busy wait. */
export function spin(ms: number): void {
  const end = performance.now() + ms;
  while (performance.now() < end) {
    // busy: the holder works on the protected resource
  }
}
