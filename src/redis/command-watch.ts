/**
 * Who sent a command: its error for a command past its deadline, and (where
 * it counts its commands in flight) a call once the command is answered or
 * has timed out, whichever comes first.
 */
export interface CommandOwner {
  unavailable(): Error;
  commandSettled?(): void;
}

/** One pending command: a class rather than closures, as thousands may be pending at once. */
class Watched<T> {
  resolve!: (value: T) => void;
  reject!: (error: unknown) => void;

  constructor(
    readonly deadline: number,
    readonly onTimeout: (() => Error) | CommandOwner,
  ) {}
}

/** How often pending commands are checked against their deadlines. */
export const WATCH_INTERVAL_MS = 50;

/**
 * Deadlines for the commands of one connection: one interval timer, running
 * only while commands are pending, instead of a timer per command (which
 * showed on the acquire/release hot path). A command that has not answered
 * by its deadline (within WATCH_INTERVAL_MS) is rejected with the error given
 * (`onTimeout()`, or the owner's `unavailable()`).
 */
export class CommandWatch {
  private readonly watched = new Set<Watched<unknown>>();
  private timer: NodeJS.Timeout | undefined;

  watch<T>(sent: Promise<T>, ms: number, onTimeout: (() => Error) | CommandOwner): Promise<T> {
    const entry = new Watched<T>(performance.now() + ms, onTimeout);
    const promise = new Promise<T>((resolve, reject) => {
      entry.resolve = resolve;
      entry.reject = reject;
    });
    this.watched.add(entry as Watched<unknown>);
    this.timer ??= setInterval(this.check, WATCH_INTERVAL_MS);
    sent.then(
      (value) => {
        if (this.settle(entry)) entry.resolve(value);
      },
      (error: unknown) => {
        if (this.settle(entry)) entry.reject(error);
      },
    );
    return promise;
  }

  /** Takes `entry` off the watch; false when its deadline already passed (it was rejected then). */
  private settle(entry: Watched<never>): boolean {
    if (!this.watched.delete(entry as Watched<unknown>)) return false;
    if (typeof entry.onTimeout !== 'function') entry.onTimeout.commandSettled?.();
    return true;
  }

  private readonly check = (): void => {
    const now = performance.now();
    for (const entry of this.watched) {
      if (entry.deadline > now) continue;
      this.settle(entry);
      const { onTimeout } = entry;
      entry.reject(typeof onTimeout === 'function' ? onTimeout() : onTimeout.unavailable());
    }
    if (this.watched.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };
}
