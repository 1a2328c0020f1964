import type { CommandOwner } from '../redis/command-watch';
import type { Connection } from '../redis/connection';

/**
 * The Redis work of one acquisition still under way: commands in flight,
 * each with its redisTimeout deadline, and background clean-up (a late
 * release, a withdrawn mark). The acquisition's connection is let go only
 * once its owner is done with it and nothing is left under way, so that a
 * reply arriving after close can still be acted on.
 */
export class PendingWork implements CommandOwner {
  private count = 0;
  private finished = false;
  private connectionReleased = false;
  private idleWaiters: (() => void)[] = [];

  constructor(
    private readonly connection: Connection,
    private readonly redisTimeout: number,
    /** Whose work it is: its error for a command past its deadline. */
    private readonly owner: { unavailable(): Error },
  ) {}

  /**
   * Sends one command; past redisTimeout it rejects with the owner's `unavailable()` and
   * stops counting (ioredis may still send it later). The watch counts it down itself:
   * no promise or closure of its own per command.
   */
  send<T>(send: () => Promise<T>): Promise<T> {
    const sent = send();
    this.count += 1;
    return this.connection.deadlines.watch(sent, this.redisTimeout, this);
  }

  /** Counts `work` as under way until it settles. */
  track<T>(work: Promise<T>): Promise<T> {
    this.count += 1;
    work.then(
      () => this.commandSettled(),
      () => this.commandSettled(),
    );
    return work;
  }

  /** For the command watch: the error of a command past its deadline. */
  unavailable(): Error {
    return this.owner.unavailable();
  }

  /** A command (or tracked work) was answered, or timed out. */
  commandSettled(): void {
    this.count -= 1;
    if (this.count === 0) this.becameIdle();
  }

  get busy(): boolean {
    return this.count > 0;
  }

  /** Resolves once nothing is under way. */
  idle(): Promise<void> {
    if (this.count === 0) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  /** The owner is done: the connection is let go once nothing is under way. */
  finish(): void {
    this.finished = true;
    if (this.count === 0) this.becameIdle();
  }

  private becameIdle(): void {
    for (const resolve of this.idleWaiters.splice(0)) resolve();
    if (!this.finished || this.connectionReleased) return;
    // A reply that settled this turn may still start a release; give it the turn.
    setImmediate(() => {
      if (this.count > 0 || this.connectionReleased) return;
      this.connectionReleased = true;
      this.connection.release();
    });
  }
}
