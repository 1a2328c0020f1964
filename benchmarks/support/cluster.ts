import { spawnSync } from 'node:child_process';
import { startRedisCluster } from '../../spec/support/redis-cluster';
import { redisServerAvailable } from '../../spec/support/redis-server';
import { Admin } from './redis-admin';

export interface ClusterSeed {
  readonly host: string;
  readonly port: number;
}

/** A throw-away Redis Cluster for one scenario, with the harness's own connection to each node. */
export interface BenchCluster {
  /** Seed nodes: every node of the cluster. */
  readonly seeds: readonly ClusterSeed[];
  /** For the report, e.g. "3 primaries + 3 replicas on 127.0.0.1:…". */
  readonly description: string;
  /** CPU seconds used so far by every node together, primaries and replicas (INFO cpu). */
  cpuSeconds(): Promise<number>;
  /**
   * Pub/sub messages sent over the cluster bus so far, every node together
   * (CLUSTER INFO): `publish` for PUBLISH, which goes to every other node;
   * `shard` for SPUBLISH, which goes to the shard's replicas only.
   */
  busMessages(): Promise<{ publish: number; shard: number }>;
  /** Stops every node. Idempotent. */
  stop(): Promise<void>;
}

/** Why a cluster cannot be started here, or null. */
export function clusterUnavailable(): string | null {
  if (!redisServerAvailable()) return 'Skipped: no redis-server on PATH to start a Redis Cluster with.';
  const cli = spawnSync('redis-cli', ['--version'], { encoding: 'utf8' });
  if (cli.error !== undefined || cli.status !== 0) return 'Skipped: no redis-cli on PATH (needed for `redis-cli --cluster create`).';
  return null;
}

/**
 * Starts 3 primaries + 3 replicas on free loopback ports (spec/support's
 * fixture) and turns on the keyspace notifications the single server has, so
 * that both deployments run with the same configuration.
 */
export async function startBenchCluster(): Promise<BenchCluster> {
  const cluster = await startRedisCluster();
  const admins = cluster.seeds.map((seed) => new Admin(`redis://${seed.host}:${seed.port}`));
  let stopping: Promise<void> | undefined;
  const stop = (): Promise<void> => {
    stopping ??= (async () => {
      await Promise.all(admins.map((admin) => admin.close()));
      await cluster.stop();
    })();
    return stopping;
  };
  try {
    await Promise.all(admins.map((admin) => admin.enableKeyspaceEvents()));
    const primaries = await cluster.primaries();
    const ports = (role: 'master' | 'replica'): string =>
      (role === 'master' ? primaries.map((p) => p.port) : cluster.seeds.map((s) => s.port).filter((p) => !primaries.some((m) => m.port === p)))
        .sort((a, b) => a - b)
        .join(', ');
    return {
      seeds: cluster.seeds,
      description: `${primaries.length} primaries (ports ${ports('master')}) + ${cluster.seeds.length - primaries.length} replicas (ports ${ports('replica')}) on 127.0.0.1`,
      async cpuSeconds() {
        const each = await Promise.all(admins.map((admin) => admin.cpuSeconds()));
        return each.reduce((sum, s) => sum + s, 0);
      },
      async busMessages() {
        const each = await Promise.all(admins.map((admin) => admin.clusterBusMessages()));
        return each.reduce((sum, m) => ({ publish: sum.publish + m.publish, shard: sum.shard + m.shard }), { publish: 0, shard: 0 });
      },
      stop,
    };
  } catch (error) {
    await stop();
    throw error;
  }
}
