import { expect } from 'vitest';
import { diagnostics } from '../../src/diagnostics';

/**
 * Waits until yadl has nothing open in this process (no connection users,
 * wait queues, subscribed channels or connections of its own) and no more
 * timers are active than `timersBefore`; fails the test otherwise. Lingers
 * inside yadl are short (under 1.5 s), so 5 s is generous.
 */
export async function expectQuiescent(timersBefore = 0, withinMs = 5_000): Promise<void> {
  const until = Date.now() + withinMs;
  let snapshot = state();
  while (Date.now() < until) {
    snapshot = state();
    if (isQuiet(snapshot, timersBefore)) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  expect(snapshot, 'yadl left things open').toEqual({
    connectionUsers: 0,
    ownedClients: 0,
    channels: 0,
    waitQueues: 0,
    timers: Math.min(snapshot.timers, timersBefore),
  });
}

/** Active (ref'd) timers now: take it before a test, pass it to expectQuiescent after. */
export function activeTimers(): number {
  return process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length;
}

function state(): typeof diagnostics & { timers: number } {
  return { ...diagnostics, timers: activeTimers() };
}

function isQuiet(s: ReturnType<typeof state>, timersBefore: number): boolean {
  return s.connectionUsers === 0 && s.ownedClients === 0 && s.channels === 0 && s.waitQueues === 0 && s.timers <= timersBefore;
}
