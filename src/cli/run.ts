import { spawn, type ChildProcess } from 'node:child_process';
import { constants } from 'node:os';
import type { Subscription } from 'rxjs';
import { releaseLease } from '../core/held-lease';
import type { Lease } from '../core/lease';
import { lock$ } from '../core/lock';
import { DEFAULT_LEASE, MIN_LEASE, resolveLockOptions, type LockOptions } from '../core/options';
import { LockLostError, LockTimeoutError } from '../errors';
import { msOption, optionValue, type CommandSpec, type ParsedArgs } from './args';
import { EXIT, UsageError } from './errors';
import { lockTitle, oneLine } from './format';
import { KEYSPACE_EVENTS_OPTION, keyspaceEventsOption } from './keyspace-option';
import { lockName } from './lock-name';
import type { Output } from './output';
import { closeClient, resolveTarget } from './target';

export const DEFAULT_KILL_AFTER_MS = 5_000;

export const runCommand: CommandSpec = {
  name: 'run',
  summary: 'run a command while holding a lock',
  usage: 'run NAME [--timeout MS] [--lease MS] [--mode read|write] [--fair] [--label TEXT] [--kill-after MS] -- CMD [ARGS...]',
  description: [
    'Acquires the lock NAME, runs CMD with YADL_LOCK (the name) and YADL_FENCE (the',
    "hold's fencing token) in its environment, renews the hold while it runs, and",
    'releases it when CMD exits. Exits with the exit code of CMD (128 + the signal',
    'number when a signal ended it). SIGINT, SIGTERM and SIGHUP are passed on to CMD.',
    '',
    'If the hold is lost while CMD runs (force-released, deleted, or Redis out of reach',
    'for longer than the lease), CMD gets SIGTERM, then SIGKILL after --kill-after,',
    'and yadl exits 76. Not acquired within --timeout: exit 75, CMD does not run.',
    "If yadl itself is killed with SIGKILL, the hold ends within one lease.",
  ].join('\n'),
  options: [
    { name: 'timeout', value: 'MS', help: 'wait at most this long for the lock; 0: one attempt (default: forever)' },
    { name: 'lease', value: 'MS', help: `the hold's lease, renewed every third of it (default ${DEFAULT_LEASE})` },
    { name: 'mode', value: 'read|write', help: 'write (default): alone; read: shared with other readers' },
    { name: 'kill-after', value: 'MS', help: `after a lost hold, SIGKILL CMD this long after SIGTERM (default ${DEFAULT_KILL_AFTER_MS})` },
    { name: 'fair', help: "wait in the lock's fair line: served in order across processes" },
    KEYSPACE_EVENTS_OPTION,
    { name: 'label', value: 'TEXT', help: 'who holds, for ls/show/watch (default <hostname>:<pid> of yadl)' },
  ],
  positionals: { min: 1, max: 1, names: 'the NAME of a lock' },
  takesCommand: true,
};

/** Signals yadl passes on to the command it runs. */
const FORWARDED: readonly NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];

/** How long to wait before telling a person at a terminal that the lock is taken. */
const WAITING_NOTICE_MS = 1_000;

export async function run(args: ParsedArgs, out: Output): Promise<number> {
  const command = runCommand.name;
  const target = resolveTarget(args, command);
  const name = lockName(args, command);
  const mode = optionValue(args, 'mode') ?? 'write';
  if (mode !== 'read' && mode !== 'write') throw new UsageError(`--mode must be read or write, got '${mode}'`, command);
  const killAfter = msOption(args, 'kill-after', command, DEFAULT_KILL_AFTER_MS);
  const options: LockOptions = {
    prefix: target.prefix,
    mode,
    timeout: msOption(args, 'timeout', command, -1, -1),
    lease: msOption(args, 'lease', command, DEFAULT_LEASE, MIN_LEASE),
    redisTimeout: target.redisTimeout,
    fair: args.options.has('fair'),
    keyspaceEvents: keyspaceEventsOption(args, command),
    ...(optionValue(args, 'label') === undefined ? {} : { label: optionValue(args, 'label') }),
  };
  try {
    resolveLockOptions(name, options);
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), command);
  }
  const [file, ...argv] = args.command ?? [];
  if (file === undefined) throw new UsageError(`'yadl ${command}' needs a command to run after --`, command);

  const client = await target.connect();
  try {
    return await new Runner(name, { ...options, redis: client }, file, argv, killAfter, out).done;
  } finally {
    await closeClient(client);
  }
}

/** One `yadl run`: waits, holds while the command runs, and settles `done` with the exit code once the lock is let go. */
class Runner {
  readonly done: Promise<number>;
  private settle!: (code: number) => void;
  private subscription: Subscription | undefined;
  private lease: Lease | undefined;
  private child: ChildProcess | undefined;
  private lost = false;
  private finishing = false;
  private killTimer: NodeJS.Timeout | undefined;
  private readonly notice: NodeJS.Timeout | undefined;
  private readonly title: string;

  constructor(
    private readonly name: string,
    private readonly options: LockOptions,
    private readonly file: string,
    private readonly argv: readonly string[],
    private readonly killAfter: number,
    private readonly out: Output,
  ) {
    this.title = lockTitle(name, options.prefix ?? '');
    this.done = new Promise((resolve) => (this.settle = resolve));
    for (const signal of FORWARDED) process.on(signal, this.onSignal);
    if (process.stderr.isTTY === true) {
      this.notice = setTimeout(() => out.stderr(`yadl: waiting for lock ${this.title}...`), WAITING_NOTICE_MS);
    }
    this.subscription = lock$(name, options).subscribe({
      next: (lease) => this.start(lease),
      error: (error: unknown) => this.ended(error),
    });
  }

  private start(lease: Lease): void {
    clearTimeout(this.notice);
    this.lease = lease;
    const child = spawn(this.file, this.argv, {
      stdio: 'inherit',
      env: { ...process.env, YADL_LOCK: this.name, YADL_FENCE: String(lease.fence) },
    });
    this.child = child;
    child.on('error', (error: NodeJS.ErrnoException) => {
      // Only a command that never started is yadl's to report; kill() failing on an exiting child is not.
      if (child.pid !== undefined) return;
      this.out.stderr(`yadl: cannot run '${oneLine(this.file)}': ${error.message}`);
      this.finish(error.code === 'ENOENT' ? EXIT.notFound : EXIT.cannotExecute, true);
    });
    child.on('exit', (code, signal) => {
      if (this.lost) return this.finish(EXIT.lost, false);
      this.finish(code ?? 128 + (signal === null ? 0 : (constants.signals[signal] ?? 0)), true);
    });
  }

  /** The observable ended: not acquired, or, once held, the hold was lost. */
  private ended(error: unknown): void {
    clearTimeout(this.notice);
    if (this.lease === undefined) {
      if (error instanceof LockTimeoutError) {
        this.out.stderr(`yadl: lock ${this.title} not acquired within ${this.options.timeout} ms`);
        return this.finish(EXIT.timeout, false);
      }
      this.out.stderr(`yadl: ${oneLine(error instanceof Error ? error.message : String(error))}`);
      return this.finish(EXIT.error, false);
    }
    this.lost = true;
    const why = error instanceof LockLostError ? error.message : `the hold ended: ${String(error)}`;
    const child = this.child;
    if (child === undefined || !running(child)) return this.finish(EXIT.lost, false);
    this.out.stderr(`yadl: ${oneLine(why)}; stopping the command (SIGTERM, SIGKILL in ${this.killAfter} ms)`);
    child.kill('SIGTERM');
    this.killTimer = setTimeout(() => {
      if (!running(child)) return;
      this.out.stderr(`yadl: the command outlived SIGTERM by ${this.killAfter} ms: SIGKILL`);
      child.kill('SIGKILL');
    }, this.killAfter);
  }

  private readonly onSignal = (signal: NodeJS.Signals): void => {
    const child = this.child;
    // The command decides how to end; its exit then releases the lock.
    if (child !== undefined && running(child)) {
      child.kill(signal);
      return;
    }
    if (child === undefined) this.finish(128 + (constants.signals[signal] ?? 0), false);
  };

  /** Lets go of the lock (releasing it when asked and still held), then settles. */
  private finish(code: number, release: boolean): void {
    if (this.finishing) return;
    this.finishing = true;
    clearTimeout(this.killTimer);
    clearTimeout(this.notice);
    for (const signal of FORWARDED) process.off(signal, this.onSignal);
    void (async () => {
      const lease = this.lease;
      if (release && lease !== undefined) {
        try {
          await releaseLease(lease);
        } catch (error) {
          const why = error instanceof Error ? error.message : String(error);
          this.out.stderr(`yadl: could not release lock ${this.title} (${oneLine(why)}); it ends by itself within its lease`);
        }
      }
      // Waiting: leaves the queue. Holding: already released, or lost.
      this.subscription?.unsubscribe();
      this.settle(code);
    })();
  }
}

function running(child: ChildProcess): boolean {
  return child.exitCode === null && child.signalCode === null;
}
