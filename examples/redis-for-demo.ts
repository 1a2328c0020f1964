/**
 * The Redis the demo talks to: REDIS_URL when set, else a private
 * `redis-server` from PATH on a free loopback port, without persistence,
 * stopped by its pid when the demo ends (also on Ctrl-C or an error).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { accessSync, constants } from 'node:fs';
import { createServer } from 'node:net';
import { delimiter, join } from 'node:path';

export interface DemoRedis {
  readonly url: string;
  /** One line saying where this Redis comes from. */
  readonly origin: string;
  stop(): Promise<void>;
}

/** No Redis to talk to: the message says what to install. */
export class NoRedisError extends Error {}

const INSTALL_HINT = `The demo needs Redis, and no redis-server was found on PATH. Either
  - install it:  Debian/Ubuntu: sudo apt-get install -y redis-server
                 macOS:         brew install redis
  - or point the demo at a Redis you may write to:
                 REDIS_URL=redis://127.0.0.1:6379/0 npm run demo`;

export async function redisForDemo(): Promise<DemoRedis> {
  const url = process.env.REDIS_URL;
  if (url) return { url, origin: `REDIS_URL (${url.replace(/\/\/[^@/]*@/, '//***@')})`, stop: async () => {} };

  const binary = findOnPath('redis-server');
  if (binary === undefined) throw new NoRedisError(INSTALL_HINT);
  const port = await freePort();
  const server = spawn(binary, ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no'], {
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const pid = server.pid;
  // If the demo dies some other way, do not leave the server behind.
  const killOnExit = (): void => {
    if (!exited(server)) server.kill('SIGKILL');
  };
  process.on('exit', killOnExit);
  await ready(server);
  return {
    url: `redis://127.0.0.1:${port}/0`,
    origin: `a private redis-server (pid ${pid}, port ${port}, no persistence), stopped when the demo ends`,
    stop: async () => {
      process.off('exit', killOnExit);
      await stop(server);
    },
  };
}

function findOnPath(command: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (dir === '') continue;
    try {
      accessSync(join(dir, command), constants.X_OK);
      return join(dir, command);
    } catch {
      // not in this directory
    }
  }
  return undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer().once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      probe.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no free port'))));
    });
  });
}

/** Resolves once the server logs that it accepts connections. */
function ready(server: ChildProcess): Promise<void> {
  let log = '';
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => fail('it did not start within 10 s'), 10_000);
    const onExit = (code: number | null, signal: string | null): void => fail(`it exited (${signal ?? code})`);
    function fail(why: string): void {
      clearTimeout(timer);
      server.kill('SIGKILL');
      reject(new Error(`redis-server failed: ${why}\n${log}`));
    }
    server.once('error', (error) => fail(error.message));
    server.once('exit', onExit);
    server.stderr?.on('data', (chunk: Buffer) => (log += chunk.toString()));
    server.stdout?.on('data', (chunk: Buffer) => {
      log += chunk.toString();
      if (/Ready to accept connections/.test(log)) {
        clearTimeout(timer);
        server.off('exit', onExit);
        resolve();
      }
    });
  });
}

function exited(server: ChildProcess): boolean {
  return server.exitCode !== null || server.signalCode !== null;
}

/** SIGTERM by pid, SIGKILL if it has not exited after 3 s. */
async function stop(server: ChildProcess): Promise<void> {
  if (exited(server)) return;
  const gone = new Promise((resolve) => server.once('exit', resolve));
  if (server.pid !== undefined) process.kill(server.pid, 'SIGTERM');
  const timer = setTimeout(() => server.kill('SIGKILL'), 3_000);
  await gone;
  clearTimeout(timer);
}
