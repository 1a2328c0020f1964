interface Watched {
  readonly deadline: number;
  readonly expire: () => void;
}

/** How often pending commands are checked against their deadlines. */
export const WATCH_INTERVAL_MS = 50;

/**
 * Deadlines for the commands of one connection: one interval timer, running
 * only while commands are pending, instead of a timer per command (which
 * showed on the acquire/release hot path). A command that has not answered
 * by its deadline (within WATCH_INTERVAL_MS) is rejected with the error given.
 */
export class CommandWatch {
  private readonly watched = new Map<number, Watched>();
  private sequence = 0;
  private timer: NodeJS.Timeout | undefined;

  watch<T>(sent: Promise<T>, ms: number, onTimeout: () => Error): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const id = ++this.sequence;
      this.watched.set(id, { deadline: performance.now() + ms, expire: () => reject(onTimeout()) });
      this.timer ??= setInterval(this.check, WATCH_INTERVAL_MS);
      sent.then(
        (value) => {
          this.watched.delete(id);
          resolve(value);
        },
        (error: unknown) => {
          this.watched.delete(id);
          // eslint-disable-next-line @typescript-eslint/prefer-promise-reject-errors -- ioredis' error passes through as given
          reject(error);
        },
      );
    });
  }

  private readonly check = (): void => {
    const now = performance.now();
    for (const [id, entry] of this.watched) {
      if (entry.deadline > now) continue;
      this.watched.delete(id);
      entry.expire();
    }
    if (this.watched.size === 0) {
      clearInterval(this.timer);
      this.timer = undefined;
    }
  };
}
