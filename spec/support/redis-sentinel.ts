/**
 * Test fixture: a Sentinel-managed deployment on free loopback ports: a
 * primary, one replica (`--replicaof`) and three sentinels monitoring
 * `mymaster` (quorum 2). Every process is ours, tracked by pid and
 * SIGKILLed on process exit if still running.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { nodeCommand } from './redis-cluster';
import { getFreePort, startRedisServer, type RedisServerHandle } from './redis-server';

const HOST = '127.0.0.1';
const NAME = 'mymaster';
const READY_TIMEOUT_MS = 20_000;
const FAILOVER_TIMEOUT_MS = 20_000;

export interface SentinelSetupHandle {
  readonly sentinels: { host: string; port: number }[];
  readonly name: 'mymaster';
  /** Ports of the two data servers (the primary and the replica, in either role). */
  readonly dataPorts: readonly number[];
  /** The primary's port as the sentinels report it now. */
  primaryPort(): Promise<number>;
  /** SENTINEL FAILOVER; resolves with the new primary's port once every sentinel reports it and it answers ROLE master. */
  failover(): Promise<number>;
  /** One command to a data server or a sentinel, over a short-lived connection. */
  command(port: number, ...args: (string | number)[]): Promise<unknown>;
  /** Resolves once the replica of the current primary is connected and in sync. */
  waitForReplica(withinMs?: number): Promise<void>;
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

const live = new Set<ChildProcess>();
let exitHookInstalled = false;

function track(child: ChildProcess): void {
  live.add(child);
  child.once('exit', () => live.delete(child));
  if (exitHookInstalled) return;
  exitHookInstalled = true;
  process.on('exit', () => {
    for (const c of live) {
      if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
    }
  });
}

async function until<T>(what: string, withinMs: number, probe: () => Promise<T | undefined>): Promise<T> {
  const deadline = Date.now() + withinMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch (error) {
      lastError = error;
    }
    await sleep(50);
  }
  throw new Error(`${what} not reached within ${withinMs} ms${lastError ? `: ${String(lastError)}` : ''}`);
}

interface SentinelProcess {
  port: number;
  child: ChildProcess;
  output: () => string;
}

function spawnSentinel(dir: string, port: number, primaryPort: number): SentinelProcess {
  const conf = path.join(dir, `sentinel-${port}.conf`);
  writeFileSync(
    conf,
    [
      `port ${port}`,
      `bind ${HOST}`,
      `dir ${dir}`,
      'sentinel resolve-hostnames no',
      `sentinel monitor ${NAME} ${HOST} ${primaryPort} 2`,
      `sentinel down-after-milliseconds ${NAME} 1000`,
      `sentinel failover-timeout ${NAME} 5000`,
      `sentinel parallel-syncs ${NAME} 1`,
      '',
    ].join('\n'),
  );
  const child = spawn('redis-server', [conf, '--sentinel'], { stdio: ['ignore', 'pipe', 'pipe'], shell: false });
  let out = '';
  const append = (chunk: Buffer): void => {
    out = (out + chunk.toString('utf8')).slice(-32_000);
  };
  child.stdout?.on('data', append);
  child.stderr?.on('data', append);
  track(child);
  return { port, child, output: () => out };
}

function terminate(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => child.kill('SIGKILL'), 3_000);
    child.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
    child.kill('SIGTERM');
  });
}

function field(info: string, name: string): string | undefined {
  return new RegExp(`^${name}:(.*)$`, 'm').exec(info)?.[1]?.trim();
}

/** SENTINEL replicas/sentinels reply (flat arrays of field/value) as objects. */
function records(reply: unknown): Record<string, string>[] {
  if (!Array.isArray(reply)) return [];
  return reply.map((entry) => {
    const record: Record<string, string> = {};
    const flat = Array.isArray(entry) ? (entry as unknown[]) : [];
    for (let i = 0; i + 1 < flat.length; i += 2) record[String(flat[i])] = String(flat[i + 1]);
    return record;
  });
}

export async function startSentinelSetup(): Promise<SentinelSetupHandle> {
  const dir = mkdtempSync(path.join(tmpdir(), 'yadl-sentinel-'));
  const dataArgs = ['--repl-diskless-sync-delay', '0', '--dir', dir];
  const servers: RedisServerHandle[] = [];
  const sentinels: SentinelProcess[] = [];
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all([...sentinels.map((s) => terminate(s.child)), ...servers.map((s) => s.stop())]);
      rmSync(dir, { recursive: true, force: true });
    })();
    return stopping;
  };

  const primaryPort = async (): Promise<number> => {
    const reply = await nodeCommand(sentinels[0]!.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME);
    return Number((reply as string[])[1]);
  };

  const waitForReplica = async (withinMs = READY_TIMEOUT_MS): Promise<void> => {
    await until('the replica in sync', withinMs, async () => {
      const primary = await primaryPort();
      const replica = servers.find((s) => s.port !== primary)!;
      const info = String(await nodeCommand(replica.port, 'INFO', 'replication'));
      const ok = field(info, 'role') === 'slave' && field(info, 'master_port') === String(primary);
      return ok && field(info, 'master_link_status') === 'up' ? true : undefined;
    });
  };

  try {
    const primary = await startRedisServer({ args: dataArgs });
    servers.push(primary);
    servers.push(await startRedisServer({ args: [...dataArgs, '--replicaof', HOST, String(primary.port)] }));
    for (let i = 0; i < 3; i++) sentinels.push(spawnSentinel(dir, await getFreePort(), primary.port));
    await waitForReplica();
    // Every sentinel knows the replica and the two other sentinels (hello messages come every 2 s).
    for (const sentinel of sentinels) {
      await until(`sentinel ${sentinel.port} ready`, READY_TIMEOUT_MS, async () => {
        if (sentinel.child.exitCode !== null) throw new Error(`sentinel exited:\n${sentinel.output()}`);
        const replicas = records(await nodeCommand(sentinel.port, 'SENTINEL', 'REPLICAS', NAME));
        const others = records(await nodeCommand(sentinel.port, 'SENTINEL', 'SENTINELS', NAME));
        const replicaOk = replicas.some((r) => r['master-link-status'] === 'ok' && !/s_down|disconnected/.test(r.flags ?? ''));
        return replicaOk && others.length === 2 ? true : undefined;
      });
    }
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    sentinels: sentinels.map((s) => ({ host: HOST, port: s.port })),
    name: NAME,
    dataPorts: servers.map((s) => s.port),
    primaryPort,
    command: nodeCommand,
    waitForReplica,
    async failover(): Promise<number> {
      const before = await primaryPort();
      await nodeCommand(sentinels[0]!.port, 'SENTINEL', 'FAILOVER', NAME);
      const after = await until('the sentinels to agree on a new primary', FAILOVER_TIMEOUT_MS, async () => {
        const ports = await Promise.all(
          sentinels.map(async (s) => Number(((await nodeCommand(s.port, 'SENTINEL', 'GET-MASTER-ADDR-BY-NAME', NAME)) as string[])[1])),
        );
        const port = ports[0];
        return port !== undefined && port !== before && ports.every((p) => p === port) ? port : undefined;
      });
      await until(`${after} to answer ROLE master`, FAILOVER_TIMEOUT_MS, async () => {
        const role = (await nodeCommand(after, 'ROLE')) as unknown[];
        return role[0] === 'master' ? true : undefined;
      });
      return after;
    },
    stop,
  };
}
