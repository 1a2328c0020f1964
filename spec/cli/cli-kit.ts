/**
 * Runs the `yadl` command line end to end: src/cli/main.ts is bundled once
 * per spec file with tsup (as `npm run build` does, into node_modules/.cache
 * so that its imports resolve), and every test spawns it as a real process.
 * Everything any of them printed is kept, and after each test it must not
 * contain a 32-hex owner token.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Redis } from 'ioredis';
import type { Observable } from 'rxjs';
import { build } from 'tsup';
import { afterAll, afterEach, beforeAll, expect } from 'vitest';
import { lock$, type Lease, type LockOptions } from '../../src/index';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';
import { subscribeLock, useTopology, within, type Holding } from '../topology/topology';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const TOKEN = /[0-9a-f]{32}/;

export interface CliProcess {
  readonly child: ChildProcess;
  stdout(): string;
  stderr(): string;
  /** Resolves once `stream` matches `pattern`; rejects when the process exits first or `withinMs` pass. */
  waitFor(pattern: RegExp, stream?: 'stdout' | 'stderr', withinMs?: number): Promise<RegExpMatchArray>;
  readonly exited: Promise<CliResult>;
  kill(signal?: NodeJS.Signals): void;
}

export interface CliResult {
  readonly code: number | null;
  readonly signal: NodeJS.Signals | null;
  readonly stdout: string;
  readonly stderr: string;
}

export interface CliOptions {
  env?: Record<string, string | undefined>;
  /** Written to stdin, which is then closed; by default stdin is closed at once. */
  input?: string;
  /** Wrap in util-linux `script` so that the CLI's stdin and stdout are a terminal. */
  tty?: boolean;
}

export interface CliKit {
  /** Runs to completion (killed after `withinMs`). */
  run(args: readonly string[], options?: CliOptions, withinMs?: number): Promise<CliResult>;
  /** Starts it and returns at once; SIGKILLed after the test if still running. */
  start(args: readonly string[], options?: CliOptions): CliProcess;
  /** Tokens known to the test (from leases or read from Redis) that must appear nowhere either. */
  forbid(token: string): void;
}

export function useCli(): CliKit {
  const outDir = path.join(root, 'node_modules', '.cache', 'yadl-spec-cli', `${process.pid}`);
  const entry = path.join(outDir, 'yadl.js');
  const running = new Set<CliProcess>();
  const outputs: (() => string)[] = [];
  const forbidden = new Set<string>();

  beforeAll(async () => {
    await build({
      entry: { yadl: path.join(root, 'src/cli/main.ts') },
      outDir,
      format: ['esm'],
      platform: 'node',
      target: 'node20',
      external: ['rxjs', 'ioredis'],
      config: false,
      silent: true,
      dts: false,
      sourcemap: false,
      clean: false,
    });
  }, 60_000);

  afterEach(async () => {
    for (const p of running) {
      p.kill('SIGKILL');
      await p.exited;
    }
    running.clear();
    const everything = outputs.splice(0).map((o) => o()).join('\n');
    expect(everything, 'a token in the output').not.toMatch(TOKEN);
    for (const token of forbidden) expect(everything).not.toContain(token);
    forbidden.clear();
  });

  afterAll(() => {
    rmSync(outDir, { recursive: true, force: true });
  });

  const start = (args: readonly string[], options: CliOptions = {}): CliProcess => {
    const env: Record<string, string | undefined> = { ...process.env, REDIS_URL: undefined, ...options.env };
    // Not inherited from a developer's shell: each test says where Redis is.
    for (const key of Object.keys(env)) if (env[key] === undefined) delete env[key];
    const argv = [process.execPath, entry, ...args];
    const child = options.tty
      ? spawn('script', ['-qefc', argv.map(shellQuote).join(' '), '/dev/null'], { env, stdio: ['pipe', 'pipe', 'pipe'] })
      : spawn(argv[0] as string, argv.slice(1), { env, stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    const wake = new Set<() => void>();
    child.stdout?.setEncoding('utf8').on('data', (chunk: string) => {
      out += chunk;
      for (const w of wake) w();
    });
    child.stderr?.setEncoding('utf8').on('data', (chunk: string) => {
      err += chunk;
      for (const w of wake) w();
    });
    if (options.input !== undefined) child.stdin?.write(options.input);
    if (!options.tty || options.input !== undefined) child.stdin?.end();
    const exited = new Promise<CliResult>((resolve) => {
      child.once('close', (code, signal) => {
        for (const w of wake) w();
        resolve({ code, signal, stdout: out, stderr: err });
      });
    });
    outputs.push(() => `${out}\n${err}`);

    const handle: CliProcess = {
      child,
      stdout: () => out,
      stderr: () => err,
      exited,
      kill: (signal = 'SIGTERM') => {
        if (child.exitCode === null && child.signalCode === null) child.kill(signal);
      },
      waitFor: (pattern, stream = 'stdout', withinMs = 30_000) =>
        new Promise((resolve, reject) => {
          const check = (): void => {
            const match = (stream === 'stdout' ? out : err).match(pattern);
            if (match !== null) done(() => resolve(match));
            else if (child.exitCode !== null || child.signalCode !== null) {
              done(() => reject(new Error(`yadl ${args.join(' ')} exited before printing ${pattern}:\n${out}\n${err}`)));
            }
          };
          const timer = setTimeout(
            () => done(() => reject(new Error(`yadl ${args.join(' ')}: no ${pattern} within ${withinMs} ms:\n${out}\n${err}`))),
            withinMs,
          );
          const done = (settle: () => void): void => {
            clearTimeout(timer);
            wake.delete(check);
            settle();
          };
          wake.add(check);
          check();
        }),
    };
    running.add(handle);
    void exited.then(() => running.delete(handle));
    return handle;
  };

  return {
    start,
    run: async (args, options, withinMs = 60_000) => {
      const p = start(args, options);
      let timer: NodeJS.Timeout | undefined;
      const timeout = new Promise<never>((_, reject) => {
        timer = setTimeout(() => {
          p.kill('SIGKILL');
          reject(new Error(`yadl ${args.join(' ')} still running after ${withinMs} ms:\n${p.stdout()}\n${p.stderr()}`));
        }, withinMs);
      });
      try {
        return await Promise.race([p.exited, timeout]);
      } finally {
        clearTimeout(timer);
      }
    },
    forbid: (token) => forbidden.add(token),
  };
}

function shellQuote(arg: string): string {
  return /^[\w@%+=:,./-]+$/.test(arg) ? arg : `'${arg.replace(/'/g, `'\\''`)}'`;
}

/** A redis-server of the spec file's own, locks held from the test process, and admin clients; all let go after each test. */
export interface LockServer {
  /** redis://127.0.0.1:PORT/0 */
  url(): string;
  server(): RedisServerHandle;
  /** Subscribes to lock$ on this server (tracked: unsubscribed after the test). */
  hold(name: string, options?: LockOptions): Holding;
  /** hold(), once acquired; its token is forbidden in every output. */
  held(name: string, options?: LockOptions): Promise<Lease>;
  /** Subscribes to any holding observable (semaphore$, elect$), unsubscribed after the test as hold() is. */
  track<L>(holds: Observable<L>): Holding<L>;
  /** A client for inspection and fault injection, closed after the test. */
  admin(): Redis;
  /** A fresh prefix per call. */
  prefix(): string;
}

export function useLockServer(cli: CliKit, start: () => Promise<RedisServerHandle> = () => startRedisServer()): LockServer {
  let handle: RedisServerHandle | undefined;
  let prefixes = 0;
  const { holdings, clients } = useTopology(async () => (handle = await start()));
  const server = (): RedisServerHandle => {
    if (handle === undefined) throw new Error('the server is not started yet');
    return handle;
  };
  const hold = (name: string, options: LockOptions = {}): Holding => {
    const h = subscribeLock(lock$(name, { redis: server().url, ...options }));
    holdings.push(h);
    return h;
  };
  return {
    url: () => server().url,
    server,
    hold,
    held: async (name, options) => {
      const lease = await within(hold(name, options).acquired, 15_000, `'${name}' acquired`);
      cli.forbid(lease.token);
      return lease;
    },
    admin: () => {
      const c = new Redis(server().url, { connectionName: 'yadl-test-admin' });
      clients.push(c);
      return c;
    },
    prefix: () => `cli${++prefixes}`,
    track: <L>(holds: Observable<L>): Holding<L> => {
      const h = subscribeLock(holds);
      holdings.push(h as unknown as Holding);
      return h;
    },
  };
}
