import type { LockHoldInfo as HoldInfo } from '../admin/hold-info';
import { readLock, type LockDetails } from '../admin/query';
import { openConnection } from '../redis/connection';
import { lockKeys } from '../redis/keys';
import type { ChannelListener, Listening } from '../redis/subscriber';
import { JSON_OPTION, msOption, type CommandSpec, type ParsedArgs } from './args';
import { clock, describeHold, lockTitle, oneLine } from './format';
import { KEYSPACE_EVENTS_OPTION, keyspaceEventsOption } from './keyspace-option';
import { lockName } from './lock-name';
import type { Output } from './output';
import { serverClockOffset } from './server-clock';
import { closeClient, resolveTarget, type Target } from './target';

export const DEFAULT_INTERVAL_MS = 500;

export const watchCommand: CommandSpec = {
  name: 'watch',
  summary: 'print acquisitions, releases, expiries and losses of a lock as they happen',
  usage: 'watch NAME [--interval MS] [--json] [options]',
  description: [
    'Prints who holds the lock NAME, then a line for every change until Ctrl-C:',
    '  acquired  a hold appeared',
    '  released  a hold was given back (by its owner, or by a force release)',
    '  expired   a hold ran out of lease or ttl (its holder died, stalled or had a fixed ttl)',
    '  lost      a hold vanished before its expiry without a release (key deleted, Redis restarted)',
    "and after each, who holds it now. It listens on the lock's keyspace channel, where",
    "releases are published and Redis reports expiries, and reads the lock again on",
    'each message; acquisitions publish nothing, so it also reads every --interval.',
    "Like a waiting lock, it turns on Redis' expiry events (CONFIG SET) unless told",
    'otherwise with --keyspace-events.',
    'With --json: one JSON object per line.',
  ].join('\n'),
  options: [
    { name: 'interval', value: 'MS', help: `read the lock at least this often (default ${DEFAULT_INTERVAL_MS})` },
    KEYSPACE_EVENTS_OPTION,
    JSON_OPTION,
  ],
  positionals: { min: 1, max: 1, names: 'the NAME of a lock' },
};

export async function watch(args: ParsedArgs, out: Output): Promise<number> {
  const target = resolveTarget(args, watchCommand.name);
  const name = lockName(args, watchCommand.name);
  const interval = msOption(args, 'interval', watchCommand.name, DEFAULT_INTERVAL_MS, 20);
  const keyspaceEvents = keyspaceEventsOption(args, watchCommand.name);
  const client = await target.connect();
  const connection = openConnection(client);
  let watcher: Watcher | undefined;
  try {
    const first = await readLock({ redis: client, name, prefix: target.prefix, redisTimeout: target.redisTimeout });
    const offset = await serverClockOffset(client, target.redisTimeout);
    watcher = new Watcher(target, name, interval, args.options.has('json'), offset, out, () =>
      readLock({ redis: client, name, prefix: target.prefix, redisTimeout: target.redisTimeout }),
    );
    const channel = lockKeys(target.prefix, name, connection.db, connection.keyPrefix).channel;
    watcher.begin(first, (listener) => connection.subscriber(keyspaceEvents).listen(channel, listener));
    return await watcher.done;
  } finally {
    watcher?.stop();
    connection.release();
    await closeClient(client);
  }
}

type Change = 'acquired' | 'released' | 'expired' | 'lost';

interface Seen {
  readonly hold: HoldInfo;
  /** performance.now() by which it ends unless renewed: its expiresInMs counted from the read that saw it. */
  readonly endsAt: number;
}

/** Reads the lock on every message and every interval, and prints what changed between two reads. */
class Watcher {
  readonly done: Promise<number>;
  private settle!: (code: number) => void;
  private listening: Listening | undefined;
  private holds = new Map<number, Seen>();
  private waiting = 0;
  /** Messages since the last read began. */
  private released = false;
  private expired = false;
  private reading = false;
  private readAgain = false;
  private timer: NodeJS.Timeout | undefined;
  private stopped = false;
  private troubled = false;

  constructor(
    private readonly target: Target,
    private readonly name: string,
    private readonly interval: number,
    private readonly json: boolean,
    /** The server's clock ahead of ours, for "held for". */
    private readonly clockOffset: number,
    private readonly out: Output,
    private readonly read: () => Promise<LockDetails>,
  ) {
    this.done = new Promise((resolve) => (this.settle = resolve));
  }

  begin(first: LockDetails, listen: (listener: ChannelListener) => Listening): void {
    process.on('SIGINT', this.onSignal);
    process.on('SIGTERM', this.onSignal);
    if (!this.json) {
      this.out.stderr(`watching lock ${lockTitle(this.name, this.target.prefix)} at ${this.target.where}; Ctrl-C to stop`);
    }
    this.remember(first, performance.now());
    this.printNow(first);
    this.listening = listen({
      message: (event) => {
        if (event === 'expired') this.expired = true;
        // A release to a fair line publishes the grant instead.
        else if (event === 'release' || event.startsWith('release:') || event.startsWith('grant:')) this.released = true;
        else return;
        this.readSoon();
      },
      resubscribed: () => {
        this.note('listening again');
        this.readSoon();
      },
      connectionLost: () => this.note('lost the connection to Redis; reconnecting'),
    });
    this.schedule();
  }

  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    clearTimeout(this.timer);
    this.listening?.close();
    process.off('SIGINT', this.onSignal);
    process.off('SIGTERM', this.onSignal);
  }

  private readonly onSignal = (): void => {
    this.stop();
    this.settle(0);
  };

  private schedule(): void {
    clearTimeout(this.timer);
    if (!this.stopped) this.timer = setTimeout(() => this.readSoon(), this.interval);
  }

  private readSoon(): void {
    if (this.stopped) return;
    if (this.reading) {
      this.readAgain = true;
      return;
    }
    void this.readOnce();
  }

  private async readOnce(): Promise<void> {
    this.reading = true;
    const released = this.released;
    const expired = this.expired;
    this.released = false;
    this.expired = false;
    const startedAt = performance.now();
    try {
      const lock = await this.read();
      if (this.troubled) this.note('reading the lock again');
      this.troubled = false;
      if (!this.stopped) this.compare(lock, startedAt, { released, expired });
    } catch (error) {
      // Messages that came before the failed read still need one.
      this.released ||= released;
      this.expired ||= expired;
      if (!this.troubled) this.note(`cannot read the lock: ${error instanceof Error ? error.message : String(error)}`);
      this.troubled = true;
    } finally {
      this.reading = false;
      if (this.readAgain) {
        this.readAgain = false;
        this.readSoon();
      } else {
        this.schedule();
      }
    }
  }

  private compare(lock: LockDetails, readAt: number, messages: { released: boolean; expired: boolean }): void {
    const now = new Map(lock.holds.map((hold) => [hold.fence, hold]));
    const changes: [Change, HoldInfo][] = [];
    for (const [fence, seen] of this.holds) {
      if (now.has(fence)) continue;
      // Fences only grow, so a fence seen once and gone now is a hold that ended.
      const ranOut = messages.expired || readAt >= seen.endsAt;
      changes.push([ranOut ? 'expired' : messages.released ? 'released' : 'lost', seen.hold]);
    }
    for (const hold of lock.holds) if (!this.holds.has(hold.fence)) changes.push(['acquired', hold]);
    const waitingChanged = lock.waiting !== this.waiting;
    this.remember(lock, readAt);
    if (changes.length === 0 && !waitingChanged) return;
    for (const [change, hold] of changes) this.print(change, hold);
    this.printNow(lock);
  }

  private remember(lock: LockDetails, readAt: number): void {
    this.holds = new Map(lock.holds.map((hold) => [hold.fence, { hold, endsAt: readAt + hold.expiresInMs }]));
    this.waiting = lock.waiting;
  }

  private print(change: Change, hold: HoldInfo): void {
    if (this.json) {
      this.out.stdout(JSON.stringify({ at: new Date().toISOString(), event: change, hold }));
      return;
    }
    const details = change === 'acquired' ? describeHold(hold, Date.now() + this.clockOffset) : `${hold.mode.padEnd(5)}  fence ${hold.fence}`;
    this.out.stdout(`${clock()}  ${change.padEnd(8)}  ${details}`);
  }

  private printNow(lock: LockDetails): void {
    if (this.json) {
      this.out.stdout(JSON.stringify({ at: new Date().toISOString(), event: 'now', holds: lock.holds, waiting: lock.waiting }));
      return;
    }
    const [first, ...others] = lock.holds;
    const waiting = lock.waiting > 0 ? `  (${lock.waiting} writer${lock.waiting === 1 ? '' : 's'} waiting)` : '';
    this.out.stdout(`${clock()}  ${'now'.padEnd(8)}  ${first === undefined ? 'free' : describeHold(first, Date.now() + this.clockOffset)}${others.length === 0 ? waiting : ''}`);
    for (const [i, hold] of others.entries()) {
      this.out.stdout(`${' '.repeat(12)}  ${''.padEnd(8)}  ${describeHold(hold, Date.now() + this.clockOffset)}${i === others.length - 1 ? waiting : ''}`);
    }
  }

  private note(text: string): void {
    if (this.json) this.out.stdout(JSON.stringify({ at: new Date().toISOString(), event: 'note', message: text }));
    else this.out.stderr(`yadl: ${oneLine(text)}`);
  }
}
