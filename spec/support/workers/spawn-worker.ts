/**
 * Runs a TypeScript worker of this folder in a child process (through tsx)
 * and reads what it prints, one JSON object a line.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildSync } from 'esbuild';

export interface WorkerProcess {
  readonly child: ChildProcess;
  /** Every JSON line printed so far. */
  readonly messages: Record<string, unknown>[];
  /**
   * Resolves with the first message (already printed or to come) that `match`
   * accepts. The default wait is long: starting tsx on a loaded machine can take seconds.
   */
  message(match: (m: Record<string, unknown>) => boolean, withinMs?: number): Promise<Record<string, unknown>>;
  /** Resolves once the process has exited. */
  readonly exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** What it wrote to stderr, for failure messages. */
  stderr(): string;
  /** SIGKILL unless it already exited. */
  kill(signal?: NodeJS.Signals): void;
}

/** Bundles of workers made in this process, by source file. */
const bundles = new Map<string, string>();
let bundleDir: string | undefined;

/**
 * The worker as one plain-JS file (esbuild, everything inlined), built once
 * per test process: it starts in a fraction of the time tsx takes to load
 * TypeScript, which matters for specs that start (and kill) many processes.
 */
function bundled(file: string): string {
  let out = bundles.get(file);
  if (out !== undefined) return out;
  if (bundleDir === undefined) {
    const dir = mkdtempSync(path.join(tmpdir(), 'yadl-workers-'));
    bundleDir = dir;
    process.once('exit', () => rmSync(dir, { recursive: true, force: true }));
  }
  out = path.join(bundleDir, `${path.basename(file, '.ts')}-${bundles.size}.mjs`);
  buildSync({
    entryPoints: [file],
    outfile: out,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    // ioredis and its dependencies are CommonJS and call require().
    banner: { js: "import { createRequire as __yadlRequire } from 'node:module'; const require = __yadlRequire(import.meta.url);" },
    logLevel: 'error',
  });
  bundles.set(file, out);
  return out;
}

export function spawnWorker(
  script: string,
  env: Record<string, string>,
  opts: { ipc?: boolean; bundle?: boolean } = {},
): WorkerProcess {
  const file = fileURLToPath(new URL(script, import.meta.url));
  const args = opts.bundle ? [bundled(file)] : ['--import', 'tsx', file];
  const child = spawn(process.execPath, args, {
    env: { ...process.env, ...env },
    stdio: opts.ipc ? ['ignore', 'pipe', 'pipe', 'ipc'] : ['ignore', 'pipe', 'pipe'],
  });
  const messages: Record<string, unknown>[] = [];
  const waiting = new Set<() => void>();
  let err = '';
  let buffered = '';
  child.stdout?.setEncoding('utf8');
  child.stdout?.on('data', (chunk: string) => {
    buffered += chunk;
    let newline: number;
    while ((newline = buffered.indexOf('\n')) >= 0) {
      const line = buffered.slice(0, newline).trim();
      buffered = buffered.slice(newline + 1);
      if (line.startsWith('{')) messages.push(JSON.parse(line) as Record<string, unknown>);
    }
    for (const wake of waiting) wake();
  });
  child.on('message', (m) => {
    messages.push(m as Record<string, unknown>);
    for (const wake of waiting) wake();
  });
  child.stderr?.on('data', (chunk: Buffer) => (err += chunk.toString('utf8')));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) =>
    child.once('exit', (code, signal) => {
      for (const wake of waiting) wake();
      resolve({ code, signal });
    }),
  );

  const message = (match: (m: Record<string, unknown>) => boolean, withinMs = 60_000): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const check = (): void => {
        const found = messages.find(match);
        if (found !== undefined) finish(() => resolve(found));
        else if (child.exitCode !== null || child.signalCode !== null) {
          finish(() => reject(new Error(`worker ${script} exited (${child.exitCode ?? child.signalCode}) first:\n${err}`)));
        }
      };
      const timer = setTimeout(
        () => {
          const last = JSON.stringify(messages.slice(-3));
          finish(() => reject(new Error(`worker ${script}: no such message within ${withinMs} ms (last: ${last}):\n${err}`)));
        },
        withinMs,
      );
      const finish = (settle: () => void): void => {
        clearTimeout(timer);
        waiting.delete(check);
        settle();
      };
      waiting.add(check);
      check();
    });

  return {
    child,
    messages,
    message,
    exited,
    stderr: () => err,
    kill: (signal: NodeJS.Signals = 'SIGKILL') => {
      if (child.exitCode === null && child.signalCode === null) child.kill(signal);
    },
  };
}
