import { describe, expect, it, vi } from 'vitest';
import { MAX_TIMER_MS, timerDelay } from '../../src/core/timers';
import { useFakeClock } from '../support/fake-clock';

describe('timerDelay', () => {
  it('is setTimeout\'s ceiling, 2^31-1 ms', () => {
    expect(MAX_TIMER_MS).toBe(2_147_483_647);
  });

  it.each([
    [-1, 0],
    [-0.5, 0],
    [-Infinity, 0],
    [NaN, 0],
    [0, 0],
  ])('clamps %d to %d', (ms, delay) => {
    expect(timerDelay(ms)).toBe(delay);
  });

  it.each([
    [1, 1],
    [0.2, 1],
    [1_234.5, 1_235],
    [MAX_TIMER_MS - 0.5, MAX_TIMER_MS],
    [MAX_TIMER_MS, MAX_TIMER_MS],
  ])('keeps %d ms as %d (rounded up: a deadline timer never fires before its time)', (ms, delay) => {
    expect(timerDelay(ms)).toBe(delay);
  });

  it.each([MAX_TIMER_MS + 0.5, MAX_TIMER_MS + 1, 2 ** 31, 2 ** 40, Number.MAX_VALUE, Infinity])('clamps %d to 2^31-1', (ms) => {
    expect(timerDelay(ms)).toBe(MAX_TIMER_MS);
  });

  describe('on a fake clock that overflows as Node does', () => {
    useFakeClock();

    it('a wait beyond the ceiling fires at the ceiling, not after 1 ms', () => {
      const fired = vi.fn();
      setTimeout(fired, timerDelay(2 ** 40));
      vi.advanceTimersByTime(MAX_TIMER_MS - 1);
      expect(fired).not.toHaveBeenCalled();
      vi.advanceTimersByTime(1);
      expect(fired).toHaveBeenCalledTimes(1);
    });
  });
});
