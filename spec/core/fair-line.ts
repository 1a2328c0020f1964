/**
 * Tools of the fair-line specs (fair.spec.ts, fair.model.spec.ts), free of
 * vitest so that a script can use them too: worker processes of
 * spec/support/workers/fair-worker.ts (bundled, so that starting and killing
 * many is cheap), each with its own connection name; the fair line as Redis
 * holds it, read with the server's clock; and who sends what, per
 * connection name, from MONITOR. useFairWorkers (fair-workers.ts) ties
 * workers to a test.
 */
import type { Redis } from 'ioredis';
import { startMonitor } from '../support/monitor';
import type { LockCommand, WorkerCommand } from '../support/workers/fair-worker';
import { spawnWorker, type WorkerProcess } from '../support/workers/spawn-worker';

/** ms on CLOCK_MONOTONIC (process.hrtime): the clock every fair worker reports on. */
export const clock = (): number => Number(process.hrtime.bigint()) / 1e6;

export type LockOptionsOf = Omit<LockCommand, 'cmd' | 'id' | 'name'>;

/** What a worker said about one of its waiters. */
export interface WaiterEvent {
  readonly id: string;
  readonly started?: number;
  readonly acquired?: number;
  readonly fence?: number;
  readonly token?: string;
  readonly aborting?: number;
  readonly released?: number;
  readonly error?: string;
  readonly errorName?: string;
  readonly timedOut?: boolean;
  readonly at?: number;
}

export interface FairWorker {
  /** Its connection name, as CLIENT LIST and MONITOR show it. */
  readonly label: string;
  readonly process: WorkerProcess;
  /** Starts waiting (lock$ or a facade's acquire) on `name`; its answers carry `id`. */
  lock(id: string, name: string, options: LockOptionsOf): void;
  release(id: string): void;
  abort(id: string): void;
  /** The first message about `id` that has `key` (an error answers too, and rejects). */
  next(id: string, key: keyof WaiterEvent, withinMs?: number): Promise<WaiterEvent>;
  /** Every message about `id` so far. */
  events(id: string): WaiterEvent[];
  /** Resolves once the wait of `id` is over without the lock (an error, a facade's false, or its unsubscribe). */
  gaveUp(id: string, withinMs?: number): Promise<WaiterEvent>;
  /** SIGKILL; resolves once it is gone. */
  kill(): Promise<void>;
  readonly alive: boolean;
}

export function startFairWorker(url: string, prefix: string, label: string): FairWorker {
  const proc = spawnWorker('./fair-worker.ts', { REDIS_URL: url, PREFIX: prefix, CLIENT_NAME: label }, { ipc: true, bundle: true });
  const send = (command: WorkerCommand): void => {
    if (proc.child.connected) proc.child.send(command);
  };
  const about = (id: string): WaiterEvent[] => proc.messages.filter((m) => m.id === id) as unknown as WaiterEvent[];
  return {
    label,
    process: proc,
    lock: (id, name, options) => send({ cmd: 'lock', id, name, ...options }),
    release: (id) => send({ cmd: 'release', id }),
    abort: (id) => send({ cmd: 'abort', id }),
    next: async (id, key, withinMs = 20_000) => {
      const found = (await proc.message((m) => m.id === id && (key in m || 'error' in m), withinMs)) as unknown as WaiterEvent;
      if (!(key in found)) throw new Error(`${label}/${id}: ${found.errorName}: ${found.error} (waiting for '${key}')`);
      return found;
    },
    events: about,
    gaveUp: async (id, withinMs = 20_000) =>
      (await proc.message(
        (m) => m.id === id && ('error' in m || 'timedOut' in m || 'released' in m || 'acquired' in m),
        withinMs,
      )) as unknown as WaiterEvent,
    kill: async () => {
      proc.kill('SIGKILL');
      await proc.exited;
    },
    get alive() {
      return proc.child.exitCode === null && proc.child.signalCode === null;
    },
  };
}

export interface Ticket {
  readonly token: string;
  readonly seq: number;
  readonly mode: 'r' | 'w';
  readonly expiry: number;
}

/** A lock's state hash as it stands on the server's clock: live fields only. */
export interface LineState {
  readonly nowMs: number;
  /** The fair line, in ticket order. */
  readonly tickets: readonly Ticket[];
  /** Tokens holding a grant their owner has not confirmed (g:). */
  readonly granted: readonly string[];
  readonly writer: { readonly token: string; readonly fence: number; readonly expiry: number } | undefined;
  readonly readers: readonly { readonly token: string; readonly fence: number; readonly expiry: number }[];
  /** The last ticket number issued (0 when none was). */
  readonly ts: number;
  readonly raw: Record<string, string>;
}

export async function readLine(admin: Redis, key: string): Promise<LineState> {
  const replies = await admin.multi().time().hgetall(key).exec();
  const [time, raw] = (replies ?? []).map(([error, value]) => {
    if (error) throw error;
    return value;
  }) as [[string, string], Record<string, string>];
  const nowMs = Number(time[0]) * 1000 + Math.floor(Number(time[1]) / 1000);
  const tickets: Ticket[] = [];
  const granted: string[] = [];
  const readers: { token: string; fence: number; expiry: number }[] = [];
  for (const [field, value] of Object.entries(raw)) {
    const [expiryText = '0', ...rest] = value.split(':');
    const expiry = Number(expiryText);
    if (expiry <= nowMs) continue;
    if (field.startsWith('t:')) {
      tickets.push({ token: field.slice(2), seq: Number(rest[0]), mode: rest[1] === 'r' ? 'r' : 'w', expiry });
    } else if (field.startsWith('g:')) granted.push(field.slice(2));
    else if (field.startsWith('r:')) readers.push({ token: field.slice(2), fence: Number(rest[0]), expiry });
  }
  tickets.sort((a, b) => a.seq - b.seq);
  const wx = Number(raw.wx ?? 0);
  const writer = raw.w !== undefined && wx > nowMs ? { token: raw.w, fence: Number(raw.wf), expiry: wx } : undefined;
  return { nowMs, tickets, granted, writer, readers, ts: Number(raw.ts ?? 0), raw };
}

/** Polls `check` every 5 ms against the line; rejects after `withinMs`, saying what it saw last. */
export async function lineUntil(
  admin: Redis,
  key: string,
  check: (line: LineState) => boolean,
  withinMs: number,
  what: string,
): Promise<LineState> {
  const until = performance.now() + withinMs;
  for (;;) {
    const line = await readLine(admin, key);
    if (check(line)) return line;
    if (performance.now() > until) throw new Error(`${what} not reached within ${withinMs} ms; the state: ${JSON.stringify(line.raw)}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}

/** One command a client sent, as MONITOR saw it. */
export interface Sent {
  /** The client's connection name ('' when none; 'lua' for a script's own calls). */
  readonly client: string;
  readonly command: string;
  readonly args: readonly string[];
  /** clock() when it came. */
  readonly at: number;
}

export interface Monitor {
  /** Everything seen so far (scripts' inner calls excluded). */
  readonly sent: Sent[];
  stop(): Promise<void>;
}

/**
 * MONITOR on its own connection: which named client sends what. Clients
 * are named by CLIENT LIST, looked up again when an unknown address shows.
 */
export async function monitor(url: string, admin: Redis): Promise<Monitor> {
  const names = new Map<string, string>();
  const refresh = async (): Promise<void> => {
    const list = (await admin.call('CLIENT', 'LIST')) as string;
    for (const line of list.split('\n')) {
      const addr = /\baddr=(\S+)/.exec(line)?.[1];
      if (addr !== undefined) names.set(addr, /\bname=(\S*)/.exec(line)?.[1] ?? '');
    }
  };
  await refresh();
  const sent: Sent[] = [];
  const unnamed: Array<{ index: number; source: string }> = [];
  const connection = await startMonitor(url, (_time, args, source) => {
    if (source === 'lua') return;
    const client = names.get(source);
    sent.push({ client: client ?? source, command: (args[0] ?? '').toLowerCase(), args, at: clock() });
    if (client === undefined) unnamed.push({ index: sent.length - 1, source });
  });
  const settleNames = async (): Promise<void> => {
    if (unnamed.length === 0) return;
    await refresh();
    for (const { index, source } of unnamed.splice(0)) {
      const entry = sent[index];
      if (entry !== undefined) sent[index] = { ...entry, client: names.get(source) ?? source };
    }
  };
  return {
    sent,
    stop: async () => {
      try {
        await settleNames();
      } finally {
        await connection.stop();
      }
    },
  };
}

/** Keys under `prefix` that are not fence counters (those outlive every hold by design: the fence retention). */
export async function leftoverKeys(admin: Redis, prefix: string): Promise<string[]> {
  const keys = await admin.keys(`${prefix}:*`);
  return keys.filter((key) => !key.endsWith(':fence')).sort();
}

/** The state hash of `name` (prefixes and names of these specs need no escaping). */
export const stateKey = (prefix: string, name: string): string => `${prefix}:lock:{${name}}`;
