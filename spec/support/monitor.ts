/**
 * MONITOR on a raw socket of its own: what specs use to see the commands a
 * server receives. Not ioredis' monitor(): under load its MONITOR output can
 * arrive before ioredis has switched the connection into monitor mode, and
 * ioredis then throws an uncaught "Command queue state error" that fails
 * whichever spec is running (redis/ioredis#1981, taskforcesh/bullmq#2505).
 * Here the connection does nothing but MONITOR, so there is no queue to get
 * out of step: after `+OK` every line is a command the server received.
 */
import { Socket, connect } from 'node:net';

/** Where to connect; an ioredis client's `options` fit as they are. */
export interface MonitorTarget {
  readonly host?: string | undefined;
  readonly port?: number | undefined;
  /** AUTH with this user (ACL); needs `password`. */
  readonly username?: string | undefined;
  /** AUTH first when given (`--requirepass`). */
  readonly password?: string | undefined;
}

/**
 * One command as MONITOR printed it. `time` is the server's "seconds.micros"
 * text, `source` the client's address ('lua' for a script's own calls), as
 * ioredis' 'monitor' event gave them; `args` decoded as UTF-8, `raw` the
 * exact bytes.
 */
export interface MonitorEntry {
  readonly time: string;
  readonly db: number;
  readonly source: string;
  readonly args: string[];
  readonly raw: Buffer[];
}

export type MonitorListener = (time: string, args: string[], source: string, db: number, raw: readonly Buffer[]) => void;

export interface RedisMonitor {
  /** Adds a listener for the commands from now on (the one given to startMonitor saw them from `+OK`). */
  on(listener: MonitorListener): void;
  /** Why the record stopped early: the connection failed or closed, a line did not parse, or a listener threw (undefined while fine). */
  readonly failure: Error | undefined;
  /**
   * Closes the socket; resolves once it is closed. Rejects with `failure`
   * when the record broke off before stop (what it saw is incomplete);
   * anything after stop is ignored.
   */
  stop(): Promise<void>;
}

const ESCAPES: Readonly<Record<string, number>> = { n: 0x0a, r: 0x0d, t: 0x09, a: 0x07, b: 0x08, '"': 0x22, '\\': 0x5c };

/**
 * Parses one MONITOR line (without its `+` and CRLF):
 * `<time> [<db> <source>] "<arg>" "<arg>" ...`. Each argument is printed as
 * Redis' sdscatrepr prints it: printable ASCII as is, `\\` `\"` `\n` `\r`
 * `\t` `\a` `\b` escaped, any other byte as `\xNN`. Undefined when the line
 * is not of that form.
 */
export function parseMonitorLine(line: string): MonitorEntry | undefined {
  const head = /^(\d+\.\d+) \[(\d+) /.exec(line);
  if (head === null) return undefined;
  // The source has no spaces nor quotes (an address, 'lua', 'unix:/path', '[::1]:port').
  const end = line.indexOf('] "', head[0].length);
  if (end < 0) return undefined;
  const raw: Buffer[] = [];
  let i = end + 2;
  while (i < line.length) {
    if (line[i] !== '"') return undefined;
    const bytes: number[] = [];
    i += 1;
    for (;;) {
      const c = line[i];
      if (c === undefined) return undefined;
      if (c === '"') break;
      if (c !== '\\') {
        bytes.push(c.charCodeAt(0) & 0xff);
        i += 1;
        continue;
      }
      const e = line[i + 1];
      if (e === 'x') {
        const hex = line.slice(i + 2, i + 4);
        if (!/^[0-9a-fA-F]{2}$/.test(hex)) return undefined;
        bytes.push(parseInt(hex, 16));
        i += 4;
      } else {
        const byte = e === undefined ? undefined : ESCAPES[e];
        if (byte === undefined) return undefined;
        bytes.push(byte);
        i += 2;
      }
    }
    raw.push(Buffer.from(bytes));
    i += 1;
    if (i < line.length) {
      if (line[i] !== ' ') return undefined;
      i += 1;
    }
  }
  if (raw.length === 0) return undefined;
  return { time: head[1]!, db: Number(head[2]), source: line.slice(head[0].length, end), args: raw.map((b) => b.toString('utf8')), raw };
}

function command(...args: string[]): string {
  return `*${args.length}\r\n${args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('')}`;
}

function targetOf(target: string | number | MonitorTarget): MonitorTarget {
  if (typeof target === 'number') return { port: target };
  if (typeof target !== 'string') return target;
  const url = new URL(target);
  return {
    host: url.hostname.replace(/^\[(.*)\]$/, '$1'),
    port: Number(url.port || 6379),
    username: url.username === '' ? undefined : decodeURIComponent(url.username),
    password: url.password === '' ? undefined : decodeURIComponent(url.password),
  };
}

/**
 * Starts MONITOR on `target` (a redis:// URL, a loopback port, or host/port/
 * credentials); resolves once the server said `+OK`, so every command it
 * receives from then on reaches `listener`. Rejects (and leaves no socket)
 * when the connection, AUTH or MONITOR fails, or after `timeoutMs`.
 */
export function startMonitor(target: string | number | MonitorTarget, listener?: MonitorListener, timeoutMs = 10_000): Promise<RedisMonitor> {
  const { host = '127.0.0.1', port = 6379, username, password } = targetOf(target);
  const listeners: MonitorListener[] = listener === undefined ? [] : [listener];
  // 'auth' (when a password is given) -> 'monitor' (MONITOR sent) -> 'streaming' (+OK came) -> 'done'.
  let state: 'auth' | 'monitor' | 'streaming' | 'done' = password === undefined ? 'monitor' : 'auth';
  let failure: Error | undefined;
  let pending = '';
  const socket: Socket = connect({ host, port });
  const closed = new Promise<void>((resolve) => socket.once('close', () => resolve()));

  return new Promise<RedisMonitor>((resolve, reject) => {
    const timer = setTimeout(() => fail(new Error(`MONITOR on ${host}:${port}: no +OK within ${timeoutMs} ms`)), timeoutMs);
    const monitor: RedisMonitor = {
      on: (l) => void listeners.push(l),
      get failure() {
        return failure;
      },
      stop: async () => {
        const was = state;
        state = 'done';
        socket.destroy();
        await closed;
        if (was !== 'done' || failure === undefined) return;
        throw failure;
      },
    };
    function fail(error: Error): void {
      if (state === 'done') return;
      const started = state === 'streaming';
      state = 'done';
      clearTimeout(timer);
      failure = error;
      socket.destroy();
      // Once started, stop() reports it (the record is incomplete); before, the start rejects with no socket left.
      if (!started) void closed.then(() => reject(error));
    }
    socket.setNoDelay(true);
    socket.on('error', (error) => fail(new Error(`MONITOR on ${host}:${port}: ${error.message}`, { cause: error })));
    socket.on('close', () => fail(new Error(`MONITOR on ${host}:${port}: the connection closed`)));
    socket.write(
      (password === undefined ? '' : username === undefined ? command('AUTH', password) : command('AUTH', username, password)) + command('MONITOR'),
    );
    // Every byte MONITOR prints is ASCII (sdscatrepr escapes the rest), so latin1 loses nothing.
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => {
      pending += chunk;
      let eol: number;
      while (state !== 'done' && (eol = pending.indexOf('\r\n')) >= 0) {
        const line = pending.slice(0, eol);
        pending = pending.slice(eol + 2);
        if (state !== 'streaming') {
          if (line !== '+OK') return fail(new Error(`MONITOR on ${host}:${port}: ${state === 'auth' ? 'AUTH' : 'MONITOR'} answered ${line}`));
          if (state === 'auth') {
            state = 'monitor';
            continue;
          }
          state = 'streaming';
          clearTimeout(timer);
          resolve(monitor);
          continue;
        }
        const entry = line.startsWith('+') ? parseMonitorLine(line.slice(1)) : undefined;
        if (entry === undefined) return fail(new Error(`MONITOR on ${host}:${port}: cannot parse ${JSON.stringify(line.slice(0, 200))}`));
        try {
          for (const l of listeners) l(entry.time, entry.args, entry.source, entry.db, entry.raw);
        } catch (error) {
          // Thrown from a socket event it would be an uncaught exception: stop() reports it instead.
          return fail(error instanceof Error ? error : new Error(String(error)));
        }
      }
    });
  });
}
