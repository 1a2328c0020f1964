/**
 * A process of lock waiters for the fair specs, driven over IPC. Env:
 * REDIS_URL, PREFIX, CLIENT_NAME (the connection name of its one ioredis
 * client, so that the server can tell its commands from other processes').
 *
 * Commands (each answer carries the command's `id`):
 *   {cmd:'lock', id, name, api, mode?, fair?, timeout?, lease?, ttl?, handoffGrace?, holdMs?}
 *     subscribes lock$ (api 'lock$') or calls acquire() on a new facade
 *     instance (api 'RedisLock' | 'RedisRLock' | 'RedisReadLock' |
 *     'RedisWriteLock'); answers {id, started: t} at once (the timeout
 *     counts from then), {id, acquired: t, fence, token} once held (token:
 *     lock$ only), then
 *     releases by itself after holdMs if given ({id, released: t});
 *     {id, error, errorName, at: t} if the wait fails, {id, timedOut: true, at: t}
 *     if a facade acquire resolves false.
 *   {cmd:'release', id}  unsubscribes / releases: {id, released: t}
 *   {cmd:'abort', id}    answers {id, aborting: t}, then aborts the AbortSignal
 *                        (of a wait, or of a hold, which it releases)
 *   {cmd:'exit'}         closes everything and exits
 * Prints {ready: true} once loaded. Times are ms on process.hrtime
 * (CLOCK_MONOTONIC), the same clock in every process on the machine.
 */
import { Redis } from 'ioredis';
import type { Subscription } from 'rxjs';
import { RedisLock, RedisReadLock, RedisRLock, RedisWriteLock, lock$, type LockMode } from '../../../src/index';

export type FairApi = 'lock$' | 'RedisLock' | 'RedisRLock' | 'RedisReadLock' | 'RedisWriteLock';

export interface LockCommand {
  readonly cmd: 'lock';
  readonly id: string;
  readonly name: string;
  readonly api: FairApi;
  readonly mode?: LockMode;
  readonly fair?: boolean;
  readonly timeout?: number;
  readonly lease?: number;
  readonly ttl?: number;
  readonly handoffGrace?: number;
  readonly holdMs?: number;
}

export type WorkerCommand = LockCommand | { readonly cmd: 'release' | 'abort'; readonly id: string } | { readonly cmd: 'exit' };

const env = process.env;
const clock = (): number => Number(process.hrtime.bigint()) / 1e6;
const send = (message: Record<string, unknown>): void => void process.send?.(message);
const client = new Redis(env.REDIS_URL ?? '', { connectionName: env.CLIENT_NAME ?? 'fair-worker' });
client.on('error', () => undefined);
const prefix = env.PREFIX ?? '';
const FACADES = { RedisLock, RedisRLock, RedisReadLock, RedisWriteLock } as const;

interface Entry {
  release(): Promise<void>;
  readonly abort: AbortController;
  released: boolean;
}
const entries = new Map<string, Entry>();

function describeError(id: string, error: unknown): void {
  const errorName = error instanceof Error ? error.name : typeof error;
  send({ id, error: String(error), errorName, at: clock() });
}

function held(command: LockCommand, fence: number | undefined, token: string | undefined, entry: Entry): void {
  send({ id: command.id, acquired: clock(), fence, ...(token !== undefined ? { token } : {}) });
  if (command.holdMs !== undefined) setTimeout(() => void releaseEntry(command.id, entry), command.holdMs);
}

async function releaseEntry(id: string, entry: Entry): Promise<void> {
  if (entry.released) return;
  entry.released = true;
  const at = clock();
  await entry.release().catch((error: unknown) => describeError(id, error));
  send({ id, released: at });
}

function lock(command: LockCommand): void {
  const abort = new AbortController();
  const { id, name, api, mode, fair, timeout, lease, ttl, handoffGrace } = command;
  send({ id, started: clock() });
  const line = { ...(fair !== undefined ? { fair } : {}), ...(handoffGrace !== undefined ? { handoffGrace } : {}) };
  const hold = { ...(lease !== undefined ? { lease } : {}), ...(ttl !== undefined ? { ttl } : {}) };
  if (api === 'lock$') {
    const entry: Entry = {
      abort,
      released: false,
      release: async () => subscription.unsubscribe(),
    };
    entries.set(id, entry);
    const subscription: Subscription = lock$(name, {
      redis: client,
      prefix,
      signal: abort.signal,
      ...(mode !== undefined ? { mode } : {}),
      ...(timeout !== undefined ? { timeout } : {}),
      ...line,
      ...hold,
    }).subscribe({
      next: (lease) => held(command, lease.fence, lease.token, entry),
      error: (error: unknown) => describeError(id, error),
    });
    return;
  }
  const instance = new FACADES[api](name, { redis: client, prefix, ...line, ...hold });
  const entry: Entry = { abort, released: false, release: () => instance.release() };
  entries.set(id, entry);
  instance.acquire({ signal: abort.signal, ...(timeout !== undefined ? { timeout } : {}) }).then(
    (ok) => (ok ? held(command, instance.fence, undefined, entry) : send({ id, timedOut: true, at: clock() })),
    (error: unknown) => describeError(id, error),
  );
}

process.on('message', (command: WorkerCommand) => {
  if (command.cmd === 'lock') lock(command);
  else if (command.cmd === 'release') {
    const entry = entries.get(command.id);
    if (entry !== undefined) void releaseEntry(command.id, entry);
  } else if (command.cmd === 'abort') {
    send({ id: command.id, aborting: clock() });
    entries.get(command.id)?.abort.abort(new Error('aborted by the test'));
  }
  else if (command.cmd === 'exit') {
    void Promise.all([...entries].map(([id, entry]) => releaseEntry(id, entry))).then(async () => {
      await client.quit().catch(() => undefined);
      process.disconnect();
      process.exit(0);
    });
  }
});
send({ ready: true });
