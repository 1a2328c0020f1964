/**
 * Test fixture: a throw-away Redis Cluster of 3 primaries with one replica
 * each, on free loopback ports, joined with `redis-cli --cluster create`.
 * Every node is a `startRedisServer` process (SIGKILLed on process exit if
 * still running), with its own temp dir; nothing else is ever touched.
 */
import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { getFreePort, redisServerVersion, startRedisServer, type RedisServerHandle } from './redis-server';

const HOST = '127.0.0.1';
const NODE_TIMEOUT_MS = 1_000;
const READY_TIMEOUT_MS = 30_000;

export interface ClusterNodeHandle {
  readonly host: string;
  readonly port: number;
  /** Pid of the redis-server process. */
  readonly pid: number;
}

/** One line of CLUSTER NODES. */
export interface ClusterNodeInfo {
  readonly id: string;
  readonly host: string;
  readonly port: number;
  readonly role: 'master' | 'replica';
  /** Node id of the primary, for a replica. */
  readonly primaryId: string | undefined;
  /** fail or fail? in its flags. */
  readonly failing: boolean;
  /** Slot ranges it serves, e.g. ['0-5460']. */
  readonly slots: string[];
}

export interface RedisClusterHandle {
  readonly nodes: readonly ClusterNodeHandle[];
  /** Seed nodes for ioredis `new Cluster(seeds)` or yadl's `{ cluster: seeds }`. */
  readonly seeds: { host: string; port: number }[];
  /** Live primaries that serve slots, as the cluster reports them now. */
  primaries(): Promise<ClusterNodeInfo[]>;
  /** Live replicas of the primary on `port`. */
  replicasOf(port: number): Promise<ClusterNodeInfo[]>;
  /** CLUSTER NODES as seen by a live node. */
  topology(): Promise<ClusterNodeInfo[]>;
  /** The primary that serves `key`'s slot now (CLUSTER KEYSLOT + CLUSTER SLOTS). */
  ownerOf(key: string): Promise<ClusterNodeInfo>;
  /** One command on one node over a short-lived plain connection. */
  command(port: number, ...args: (string | number)[]): Promise<unknown>;
  /** Resolves once every live node says cluster_state:ok and they agree on who serves which slot. */
  waitUntilOk(withinMs?: number): Promise<void>;
  /**
   * Moves one slot, with its keys, to the primary on `toPort` by hand:
   * SETSLOT IMPORTING/MIGRATING, MIGRATE of every key, SETSLOT NODE on every primary.
   */
  migrateSlot(slot: number, toPort: number): Promise<void>;
  /** SIGKILL; resolves once the process is gone. */
  killNode(port: number): Promise<void>;
  alive(port: number): boolean;
  /** Stops every node and removes the temp dirs. Idempotent. */
  stop(): Promise<void>;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends one command to HOST:port and disconnects; rejects on any error. */
export async function nodeCommand(port: number, ...args: (string | number)[]): Promise<unknown> {
  const client = new Redis({
    host: HOST,
    port,
    lazyConnect: true,
    enableReadyCheck: false,
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
    connectTimeout: 2_000,
    commandTimeout: 10_000,
  });
  client.on('error', () => undefined);
  try {
    await client.connect();
    const [name, ...rest] = args;
    return await client.call(String(name), ...rest.map(String));
  } finally {
    client.disconnect();
  }
}

export function parseClusterNodes(text: string): ClusterNodeInfo[] {
  return text
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => {
      const [id = '', address = '', flags = '', primary = '-', , , , , ...slots] = line.trim().split(' ');
      const hostPort = address.split('@')[0] ?? '';
      const colon = hostPort.lastIndexOf(':');
      const flagList = flags.split(',');
      return {
        id,
        host: hostPort.slice(0, colon) || HOST,
        port: Number(hostPort.slice(colon + 1)),
        role: flagList.includes('master') ? 'master' : 'replica',
        primaryId: primary === '-' ? undefined : primary,
        failing: flagList.includes('fail') || flagList.includes('fail?'),
        slots: slots.filter((s) => !s.startsWith('[')),
      } satisfies ClusterNodeInfo;
    });
}

function runRedisCli(args: string[], timeoutMs = 30_000): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile('redis-cli', args, { timeout: timeoutMs }, (error, stdout, stderr) => {
      if (error) reject(new Error(`redis-cli ${args.join(' ')} failed: ${error.message}\n${stdout}\n${stderr}`));
      else resolve(stdout);
    });
  });
}

/** Cluster bus port: `--cluster-port` on Redis >= 7, else port + 10000 (which must then be free too). */
async function pickPorts(useClusterPort: boolean): Promise<{ port: number; busPort: number }> {
  if (useClusterPort) return { port: await getFreePort(), busPort: await getFreePort() };
  for (let attempt = 0; attempt < 50; attempt++) {
    const port = await getFreePort();
    if (port + 10_000 > 65_535) continue;
    if (await portFree(port + 10_000)) return { port, busPort: port + 10_000 };
  }
  throw new Error('no free port pair (port, port + 10000) found');
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, HOST, () => srv.close(() => resolve(true)));
  });
}

function pidGone(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return false;
  } catch {
    return true;
  }
}

/** Starts 3 primaries + 3 replicas and waits until the cluster is ok and every replica is in sync. */
export async function startRedisCluster(): Promise<RedisClusterHandle> {
  const major = Number((redisServerVersion() ?? '7').split('.')[0]);
  const useClusterPort = major >= 7;
  const root = mkdtempSync(path.join(tmpdir(), 'yadl-cluster-'));
  const servers = new Map<number, RedisServerHandle>();
  let stopping: Promise<void> | undefined;

  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all([...servers.values()].map((s) => s.stop()));
      rmSync(root, { recursive: true, force: true });
    })();
    return stopping;
  };

  const taken = new Set<number>();
  const startNode = async (): Promise<RedisServerHandle> => {
    let lastError: unknown;
    // Free ports are picked concurrently (other spec files start clusters too): retry a collision.
    for (let attempt = 0; attempt < 3; attempt++) {
      const { port, busPort } = await pickPorts(useClusterPort);
      if (taken.has(port) || taken.has(busPort) || port === busPort) continue;
      taken.add(port).add(busPort);
      const dir = path.join(root, String(port));
      mkdirSync(dir);
      try {
        const server = await startRedisServer({
          port,
          args: [
            '--cluster-enabled', 'yes',
            '--cluster-config-file', path.join(dir, `nodes-${port}.conf`),
            '--cluster-node-timeout', String(NODE_TIMEOUT_MS),
            ...(useClusterPort ? ['--cluster-port', String(busPort)] : []),
            '--dir', dir,
            // Replicas sync at once instead of after the default 5 s diskless delay.
            '--repl-diskless-sync-delay', '0',
          ],
        });
        servers.set(port, server);
        // A port picked concurrently elsewhere may be another Redis answering PING: make sure it is ours.
        const info = String(await nodeCommand(port, 'INFO', 'server'));
        if (!info.includes(`process_id:${server.pid}\r`)) {
          servers.delete(port);
          await server.stop();
          throw new Error(`port ${port} is answered by another redis-server`);
        }
        return server;
      } catch (error) {
        lastError = error;
      }
    }
    throw lastError instanceof Error ? lastError : new Error('could not start a cluster node');
  };

  try {
    const outcomes = await Promise.allSettled(Array.from({ length: 6 }, startNode));
    const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === 'rejected');
    if (failed) throw failed.reason;
    const started = outcomes.map((o) => (o as PromiseFulfilledResult<RedisServerHandle>).value);
    await runRedisCli([
      '--cluster', 'create',
      ...started.map((s) => `${HOST}:${s.port}`),
      '--cluster-replicas', '1',
      '--cluster-yes',
    ]);
  } catch (error) {
    await stop();
    throw error;
  }

  const nodes: ClusterNodeHandle[] = [...servers.values()].map((server) => ({
    host: HOST,
    port: server.port,
    get pid(): number {
      return server.pid;
    },
  }));

  const alive = (port: number): boolean => {
    const server = servers.get(port);
    return server !== undefined && !pidGone(server.pid);
  };

  const topology = async (): Promise<ClusterNodeInfo[]> => {
    let lastError: unknown;
    for (const node of nodes) {
      if (!alive(node.port)) continue;
      try {
        return parseClusterNodes(String(await nodeCommand(node.port, 'CLUSTER', 'NODES')));
      } catch (error) {
        lastError = error;
      }
    }
    throw new Error(`no live cluster node answered CLUSTER NODES: ${String(lastError)}`);
  };

  const primaries = async (): Promise<ClusterNodeInfo[]> =>
    (await topology()).filter((n) => n.role === 'master' && !n.failing && n.slots.length > 0 && alive(n.port));

  const replicasOf = async (port: number): Promise<ClusterNodeInfo[]> => {
    const all = await topology();
    const primary = all.find((n) => n.port === port);
    if (primary === undefined) throw new Error(`no cluster node on port ${port}`);
    return all.filter((n) => n.primaryId === primary.id && !n.failing && alive(n.port));
  };

  const ownerOf = async (key: string): Promise<ClusterNodeInfo> => {
    const live = nodes.find((n) => alive(n.port));
    if (live === undefined) throw new Error('no live cluster node');
    const slot = Number(await nodeCommand(live.port, 'CLUSTER', 'KEYSLOT', key));
    for (const primary of await primaries()) {
      if (primary.slots.some((range) => inRange(range, slot))) return primary;
    }
    throw new Error(`no live primary serves slot ${slot} of '${key}'`);
  };

  const waitUntilOk = async (withinMs = READY_TIMEOUT_MS): Promise<void> => {
    const until = Date.now() + withinMs;
    let problem = 'not checked yet';
    while (Date.now() < until) {
      problem = await clusterProblem(nodes.filter((n) => alive(n.port)).map((n) => n.port)).catch(
        (error: unknown) => String(error),
      );
      if (problem === '') return;
      await sleep(100);
    }
    throw new Error(`cluster not ok within ${withinMs} ms: ${problem}`);
  };

  try {
    await waitUntilOk();
  } catch (error) {
    await stop();
    throw error;
  }

  return {
    nodes,
    seeds: nodes.map((n) => ({ host: n.host, port: n.port })),
    primaries,
    replicasOf,
    topology,
    ownerOf,
    command: nodeCommand,
    waitUntilOk,
    alive,
    async migrateSlot(slot: number, toPort: number): Promise<void> {
      const owners = await primaries();
      const from = owners.find((p) => p.slots.some((range) => inRange(range, slot)));
      const to = owners.find((p) => p.port === toPort);
      if (from === undefined || to === undefined) throw new Error(`cannot move slot ${slot} to ${toPort}`);
      if (from.port === to.port) return;
      await nodeCommand(to.port, 'CLUSTER', 'SETSLOT', slot, 'IMPORTING', from.id);
      await nodeCommand(from.port, 'CLUSTER', 'SETSLOT', slot, 'MIGRATING', to.id);
      for (;;) {
        const keys = (await nodeCommand(from.port, 'CLUSTER', 'GETKEYSINSLOT', slot, 100)) as string[];
        if (keys.length === 0) break;
        await nodeCommand(from.port, 'MIGRATE', to.host, to.port, '', 0, 5_000, 'KEYS', ...keys);
      }
      for (const node of [to, from, ...owners.filter((p) => p !== to && p !== from)]) {
        await nodeCommand(node.port, 'CLUSTER', 'SETSLOT', slot, 'NODE', to.id);
      }
    },
    async killNode(port: number): Promise<void> {
      const server = servers.get(port);
      if (server === undefined) throw new Error(`port ${port} is not a node of this cluster`);
      const pid = server.pid;
      server.kill('SIGKILL');
      const until = Date.now() + 5_000;
      while (!pidGone(pid)) {
        if (Date.now() > until) throw new Error(`node ${port} (pid ${pid}) survived SIGKILL`);
        await sleep(10);
      }
    },
    stop,
  };
}

function inRange(range: string, slot: number): boolean {
  const [from = -1, to = from] = range.split('-').map(Number);
  return slot >= from && slot <= to;
}

/** '' when every node is ok, agrees on slot ownership, and every live replica is in sync; else why not. */
async function clusterProblem(ports: number[]): Promise<string> {
  const views = new Set<string>();
  for (const port of ports) {
    const info = String(await nodeCommand(port, 'CLUSTER', 'INFO'));
    if (!info.includes('cluster_state:ok')) return `node ${port} is not ok`;
    const topology = parseClusterNodes(String(await nodeCommand(port, 'CLUSTER', 'NODES')));
    const owners = topology
      .filter((n) => n.role === 'master' && n.slots.length > 0 && ports.includes(n.port))
      .map((n) => `${n.port}:${n.slots.join(',')}`)
      .sort();
    views.add(owners.join(' '));
    const me = topology.find((n) => String(n.port) === String(port));
    if (me?.role === 'replica') {
      const replication = String(await nodeCommand(port, 'INFO', 'replication'));
      if (!replication.includes('master_link_status:up')) return `replica ${port} is not in sync`;
    }
  }
  if (views.size !== 1) return `nodes disagree on slot owners: ${[...views].join(' | ')}`;
  return '';
}
