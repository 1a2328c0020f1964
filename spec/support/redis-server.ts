/**
 * Test fixture: start real, throw-away `redis-server` processes on free
 * loopback ports. Servers are tracked and SIGKILLed on process exit so none is
 * ever left behind. Never touches any pre-existing Redis (e.g. on 6379).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import net from 'node:net';
import path from 'node:path';

export const REDIS_SERVER_MISSING_MESSAGE =
  'redis-server not found on PATH. Install it (Debian/Ubuntu: sudo apt-get install -y redis-server; ' +
  'macOS: brew install redis), or set REDIS_URL to a Redis you may flush, ' +
  'or start Docker so testcontainers can run one.';

export interface StartRedisServerOptions {
  /** Extra redis-server arguments, passed verbatim (no shell), e.g. ['--rename-command', 'CONFIG', '']. */
  args?: string[];
  /** Sets `--requirepass`. */
  password?: string;
  /** Fixed port; a free one is picked when omitted. */
  port?: number;
}

export interface RedisServerHandle {
  /** redis://[:password@]127.0.0.1:PORT/0 */
  readonly url: string;
  readonly host: string;
  readonly port: number;
  /** Pid of the current process (changes after restart()). */
  readonly pid: number;
  /** Everything the server printed so far (stdout + stderr). */
  output(): string;
  /** SIGTERM, then SIGKILL after 3 s; resolves when the process has exited. Idempotent. */
  stop(): Promise<void>;
  /** Sends a signal to the server (fault injection). */
  kill(signal?: NodeJS.Signals): void;
  /** stop(), then start again on the same port with the same arguments. */
  restart(): Promise<void>;
}

const HOST = '127.0.0.1';
const START_TIMEOUT_MS = 10_000;
const STOP_GRACE_MS = 3_000;

/** Every live child we started; SIGKILLed synchronously on exit. */
const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function installExitHook(): void {
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const child of live) {
      if (child.pid !== undefined && child.exitCode === null && child.signalCode === null) {
        try {
          process.kill(child.pid, 'SIGKILL');
        } catch {
          // already gone
        }
      }
    }
    live.clear();
  });
}

let cachedBinary: string | null | undefined;

function findRedisServer(): string | null {
  if (cachedBinary !== undefined) return cachedBinary;
  cachedBinary = null;
  const exe = process.platform === 'win32' ? 'redis-server.exe' : 'redis-server';
  for (const dir of (process.env.PATH ?? '').split(path.delimiter)) {
    if (!dir) continue;
    const candidate = path.join(dir, exe);
    try {
      accessSync(candidate, constants.X_OK);
      cachedBinary = candidate;
      break;
    } catch {
      // keep looking
    }
  }
  return cachedBinary;
}

/** True when a `redis-server` executable is on PATH. */
export function redisServerAvailable(): boolean {
  return findRedisServer() !== null;
}

/** Version string of the redis-server on PATH, e.g. "7.0.15", or null. */
export function redisServerVersion(): string | null {
  const bin = findRedisServer();
  if (!bin) return null;
  const res = spawnSync(bin, ['--version'], { encoding: 'utf8' });
  return /v=(\S+)/.exec(res.stdout ?? '')?.[1] ?? null;
}

/** A port that was free on 127.0.0.1 a moment ago. */
export function getFreePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.once('error', reject);
    srv.listen(0, HOST, () => {
      const address = srv.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      srv.close(() => (port ? resolve(port) : reject(new Error('could not determine a free port'))));
    });
  });
}

/** Sends PING (AUTH first when a password is given) over a raw socket; true on +PONG. */
function ping(port: number, password: string | undefined, timeoutMs = 500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host: HOST, port });
    let buffer = '';
    let settled = false;
    const done = (ok: boolean): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    socket.setEncoding('utf8');
    socket.once('error', () => done(false));
    socket.once('close', () => done(false));
    socket.once('connect', () => {
      const cmds: string[][] = password !== undefined ? [['AUTH', password], ['PING']] : [['PING']];
      socket.write(cmds.map(encodeCommand).join(''));
    });
    socket.on('data', (chunk: string) => {
      buffer += chunk;
      // -LOADING etc. means not ready yet; +PONG means ready.
      if (buffer.includes('+PONG')) done(true);
      else if (buffer.startsWith('-') && buffer.includes('\r\n') && password === undefined) done(false);
      else if (buffer.split('\r\n').length > 2) done(false);
    });
  });
}

function encodeCommand(args: string[]): string {
  return `*${args.length}\r\n` + args.map((a) => `$${Buffer.byteLength(a)}\r\n${a}\r\n`).join('');
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

function hasExited(child: ChildProcess): boolean {
  return child.exitCode !== null || child.signalCode !== null;
}

function waitForExit(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return Promise.resolve();
  return new Promise((resolve) => child.once('exit', () => resolve()));
}

interface Spawned {
  child: ChildProcess;
  output: () => string;
}

function spawnServer(bin: string, argv: string[]): Spawned {
  const child = spawn(bin, argv, { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
  let out = '';
  const append = (chunk: Buffer): void => {
    out += chunk.toString('utf8');
    if (out.length > 64_000) out = out.slice(-32_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  child.once('error', (err) => append(Buffer.from(`spawn error: ${err.message}\n`)));
  live.add(child);
  child.once('exit', () => live.delete(child));
  return { child, output: () => out };
}

async function waitUntilReady(s: Spawned, port: number, password: string | undefined): Promise<void> {
  const deadline = Date.now() + START_TIMEOUT_MS;
  while (Date.now() < deadline) {
    if (hasExited(s.child)) {
      throw new Error(
        `redis-server on port ${port} exited early (code ${s.child.exitCode}, signal ${s.child.signalCode}):\n${s.output()}`,
      );
    }
    if (await ping(port, password)) return;
    await sleep(50);
  }
  throw new Error(`redis-server on port ${port} did not answer PING within ${START_TIMEOUT_MS} ms:\n${s.output()}`);
}

async function terminate(child: ChildProcess): Promise<void> {
  if (hasExited(child)) return;
  const exited = waitForExit(child);
  child.kill('SIGTERM');
  const killTimer = setTimeout(() => {
    if (!hasExited(child)) child.kill('SIGKILL');
  }, STOP_GRACE_MS);
  try {
    await exited;
  } finally {
    clearTimeout(killTimer);
  }
}

/** Starts a fresh redis-server on a free loopback port and waits until it answers PING. */
export async function startRedisServer(opts: StartRedisServerOptions = {}): Promise<RedisServerHandle> {
  const bin = findRedisServer();
  if (!bin) throw new Error(REDIS_SERVER_MISSING_MESSAGE);
  installExitHook();

  const { password, args = [] } = opts;
  const port = opts.port ?? (await getFreePort());
  const argv = [
    '--port', String(port),
    '--bind', HOST,
    '--save', '',
    '--appendonly', 'no',
    '--daemonize', 'no',
    '--protected-mode', 'no',
    ...(password !== undefined ? ['--requirepass', password] : []),
    ...args,
  ];

  const launch = async (): Promise<Spawned> => {
    const s = spawnServer(bin, argv);
    try {
      await waitUntilReady(s, port, password);
    } catch (err) {
      await terminate(s.child);
      throw err;
    }
    return s;
  };

  let current = await launch();
  let stopping: Promise<void> | null = null;
  const auth = password !== undefined ? `:${encodeURIComponent(password)}@` : '';

  const stop = (): Promise<void> => {
    stopping ??= terminate(current.child);
    return stopping;
  };

  return {
    url: `redis://${auth}${HOST}:${port}/0`,
    host: HOST,
    port,
    get pid(): number {
      return current.child.pid ?? -1;
    },
    output: () => current.output(),
    stop,
    kill(signal: NodeJS.Signals = 'SIGKILL'): void {
      if (!hasExited(current.child)) current.child.kill(signal);
    },
    async restart(): Promise<void> {
      await stop();
      // The port may linger briefly after exit; retry the launch a few times.
      let lastError: unknown;
      for (let attempt = 0; attempt < 5; attempt++) {
        try {
          current = await launch();
          stopping = null;
          return;
        } catch (err) {
          lastError = err;
          await sleep(200);
        }
      }
      throw lastError instanceof Error ? lastError : new Error(String(lastError));
    },
  };
}
