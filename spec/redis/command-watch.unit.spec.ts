/**
 * CommandWatch on a fake clock: one interval for all pending commands of a
 * connection, rejecting those past their deadline.
 */
import { describe, expect, it, vi } from 'vitest';
import { CommandWatch, WATCH_INTERVAL_MS } from '../../src/redis/command-watch';
import { deferred, settle, useFakeClock } from '../support/fake-clock';

useFakeClock();

/** Where a watched promise stands, read without waiting on it. */
function track<T>(promise: Promise<T>) {
  const state: { settled: 'pending' | 'resolved' | 'rejected'; value?: T; error?: unknown } = { settled: 'pending' };
  promise.then(
    (value) => Object.assign(state, { settled: 'resolved', value }),
    (error: unknown) => Object.assign(state, { settled: 'rejected', error }),
  );
  return state;
}

/** Moves the fake clock to `ms` after `from`. */
async function at(from: number, ms: number): Promise<void> {
  await vi.advanceTimersByTimeAsync(from + ms - performance.now());
}

describe('CommandWatch (fake clock)', () => {
  it.each([120, 100, 1, 5_000])(
    'rejects a command unanswered %i ms after it was sent with the given error, within WATCH_INTERVAL_MS of its deadline',
    async (ms) => {
      const watch = new CommandWatch();
      const timeout = new Error('no answer');
      const onTimeout = vi.fn(() => timeout);
      const t0 = performance.now();
      const command = track(watch.watch(new Promise<string>(() => undefined), ms, onTimeout));
      await at(t0, ms - 1);
      expect(command.settled, 'before its deadline').toBe('pending');
      expect(onTimeout).not.toHaveBeenCalled();
      await at(t0, ms + WATCH_INTERVAL_MS);
      expect(command.settled).toBe('rejected');
      expect(command.error).toBe(timeout);
      expect(onTimeout).toHaveBeenCalledTimes(1);
    },
  );

  it('answers before the deadline pass through, values and errors alike, and never time out', async () => {
    const watch = new CommandWatch();
    const onTimeout = vi.fn(() => new Error('no answer'));
    const ok = deferred<string>();
    const failing = deferred<string>();
    const t0 = performance.now();
    const answered = track(watch.watch(ok.promise, 200, onTimeout));
    const refused = track(watch.watch(failing.promise, 200, onTimeout));
    await at(t0, 120);
    ok.resolve('OK');
    const reply = Object.assign(new Error('WRONGTYPE Operation against a key holding the wrong kind of value'), { name: 'ReplyError' });
    failing.reject(reply);
    await settle();
    expect(answered).toEqual({ settled: 'resolved', value: 'OK' });
    expect(refused.settled).toBe('rejected');
    expect(refused.error).toBe(reply);
    await at(t0, 1_000);
    expect(onTimeout).not.toHaveBeenCalled();
  });

  it('times out only the commands past their deadline', async () => {
    const watch = new CommandWatch();
    const t0 = performance.now();
    const short = track(watch.watch(new Promise(() => undefined), 100, () => new Error('short')));
    const long = track(watch.watch(new Promise(() => undefined), 1_000, () => new Error('long')));
    await at(t0, 100 + WATCH_INTERVAL_MS);
    expect(short.settled).toBe('rejected');
    expect(long.settled).toBe('pending');
    await at(t0, 1_000 + WATCH_INTERVAL_MS);
    expect(long.settled).toBe('rejected');
    expect((long.error as Error).message).toBe('long');
  });

  it('runs its one interval timer only while commands are pending', async () => {
    const watch = new CommandWatch();
    expect(vi.getTimerCount()).toBe(0);
    const answers = [deferred<number>(), deferred<number>(), deferred<number>()];
    for (const answer of answers) void watch.watch(answer.promise, 1_000, () => new Error('no answer')).catch(() => undefined);
    expect(vi.getTimerCount(), 'one timer for all commands').toBe(1);
    answers[0]!.resolve(1);
    answers[1]!.resolve(2);
    await vi.advanceTimersByTimeAsync(WATCH_INTERVAL_MS);
    expect(vi.getTimerCount(), 'a command is still pending').toBe(1);
    answers[2]!.resolve(3);
    await vi.advanceTimersByTimeAsync(WATCH_INTERVAL_MS);
    expect(vi.getTimerCount(), 'stopped at the first check with nothing pending').toBe(0);

    // Started again for the next command, and stopped again once it timed out.
    const t1 = performance.now();
    const late = track(watch.watch(new Promise(() => undefined), 100, () => new Error('no answer')));
    expect(vi.getTimerCount()).toBe(1);
    await at(t1, 100 + WATCH_INTERVAL_MS);
    expect(late.settled).toBe('rejected');
    expect(vi.getTimerCount()).toBe(0);
  });
});
