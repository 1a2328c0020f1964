/** setTimeout's ceiling: a longer delay overflows and fires after 1 ms (about 24.8 days). */
export const MAX_TIMER_MS = 2 ** 31 - 1;

/**
 * A delay setTimeout keeps: never negative, never past its ceiling. A wait
 * that long is cut short and re-armed by whoever set it, which is harmless;
 * an overflowed one would fire at once, again and again.
 */
export function timerDelay(ms: number): number {
  if (!(ms > 0)) return 0;
  return Math.min(Math.ceil(ms), MAX_TIMER_MS);
}
