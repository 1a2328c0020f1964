/**
 * Probe: renewal traffic of many holds in one process, per hold (one renew
 * script per hold every lease/3, as before batching) against batched (the
 * lock kind's renew-many, renewal-batcher.ts), in the same run.
 *
 *   npx tsx benchmarks/probes/renewal-traffic.ts [--holds 10000] [--lease 30000] [--window-ms 20000] [--cluster]
 *
 * Starts its own redis-server (or 3+3 cluster with --cluster) on free ports,
 * takes `holds` locks with lock$ at `lease`, lets them settle one renewal
 * period, then counts over `window-ms`: scripts run (EVALSHA + EVAL, INFO
 * commandstats, summed over primaries), Redis CPU (INFO cpu, user + sys),
 * and this process's CPU. Bounded: about 2 × (window + lease/3 + acquiring)
 * of wall time.
 */
import { Redis, Cluster } from 'ioredis';
import type { Subscription } from 'rxjs';
import { lockWithSettings$ } from '../../src/core/lock';
import { resolveLockOptions } from '../../src/core/options';
import type { HoldKind, HoldTarget } from '../../src/redis/hold-kind';
import { startRedisServer } from '../../spec/support/redis-server';
import { startRedisCluster } from '../../spec/support/redis-cluster';

function flag(name: string, fallback: number): number {
  const index = process.argv.indexOf(`--${name}`);
  return index === -1 ? fallback : Number(process.argv[index + 1]);
}

const HOLDS = flag('holds', 10_000);
const LEASE = flag('lease', 30_000);
const WINDOW_MS = flag('window-ms', 20_000);
const CLUSTER = process.argv.includes('--cluster');

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** The lock kind as it was before batching: each hold renews with its own script. */
function perHold(kind: HoldKind): HoldKind {
  return {
    kind: kind.kind,
    shared: kind.shared,
    target: (connection, prefix, name) => {
      const target = kind.target(connection, prefix, name);
      const bound: HoldTarget = {
        name: target.name,
        slotKey: target.slotKey,
        channel: target.channel,
        acquire: target.acquire.bind(target),
        renew: target.renew.bind(target),
        release: target.release.bind(target),
        withdraw: target.withdraw.bind(target),
        inspect: target.inspect.bind(target),
        forceRelease: target.forceRelease.bind(target),
        confirm: target.confirm.bind(target),
      };
      return bound;
    },
  };
}

interface Sample {
  scripts: number;
  /** Microseconds Redis spent running them (INFO commandstats usec). */
  scriptUsec: number;
  cpuSeconds: number;
}

async function sample(admins: Redis[]): Promise<Sample> {
  let scripts = 0;
  let scriptUsec = 0;
  let cpuSeconds = 0;
  for (const admin of admins) {
    const stats = await admin.info('commandstats');
    for (const match of stats.matchAll(/^cmdstat_(evalsha|eval):calls=(\d+),usec=(\d+)/gm)) {
      scripts += Number(match[2]);
      scriptUsec += Number(match[3]);
    }
    const cpu = await admin.info('cpu');
    const read = (field: string): number => Number(new RegExp(String.raw`(?:^|\n)${field}:([\d.]+)`).exec(cpu)?.[1] ?? 0);
    cpuSeconds += read('used_cpu_user') + read('used_cpu_sys');
  }
  return { scripts, scriptUsec, cpuSeconds };
}

async function measure(mode: 'per-hold' | 'batched', redis: Redis | Cluster, admins: Redis[]): Promise<void> {
  const subscriptions: Subscription[] = [];
  const started = performance.now();
  const batchSize = 500;
  for (let i = 0; i < HOLDS; i += batchSize) {
    const acquired: Promise<unknown>[] = [];
    for (let j = i; j < Math.min(HOLDS, i + batchSize); j++) {
      const settings = resolveLockOptions(`renewal-${mode}-${j}`, { redis, lease: LEASE, prefix: 'probe' });
      const lock = mode === 'batched' ? lockWithSettings$(settings) : lockWithSettings$({ ...settings, kind: perHold(settings.kind) });
      let resolveHeld!: () => void;
      acquired.push(new Promise<void>((resolve) => (resolveHeld = resolve)));
      subscriptions.push(
        lock.subscribe({
          next: () => resolveHeld(),
          error: (error: unknown) => console.error(`[probe] ${mode} hold ${j} ended:`, error),
        }),
      );
    }
    await Promise.all(acquired);
  }
  const acquiredMs = performance.now() - started;
  // One renewal period, so that the holds acquired over `acquiredMs` have renewed once (and batched ones merged).
  await sleep(Math.floor(LEASE / 3) + 500);
  const before = await sample(admins);
  const cpuBefore = process.cpuUsage();
  const t0 = performance.now();
  await sleep(WINDOW_MS);
  const seconds = (performance.now() - t0) / 1000;
  const after = await sample(admins);
  const cpu = process.cpuUsage(cpuBefore);
  const scripts = after.scripts - before.scripts;
  const scriptsPerSecond = scripts / seconds;
  const msPerScript = scripts === 0 ? 0 : (after.scriptUsec - before.scriptUsec) / 1000 / scripts;
  const redisCpuMsPerSecond = ((after.cpuSeconds - before.cpuSeconds) * 1000) / seconds;
  const clientCpuMsPerSecond = (cpu.user + cpu.system) / 1000 / seconds;
  console.log(
    `${mode.padEnd(8)} ${CLUSTER ? 'cluster' : 'server '} holds=${HOLDS} lease=${LEASE} ms (acquired in ${Math.round(acquiredMs)} ms): ` +
      `${scriptsPerSecond.toFixed(1)} scripts/s (${msPerScript.toFixed(3)} ms of Redis each), Redis CPU ${redisCpuMsPerSecond.toFixed(1)} ms/s, client CPU ${clientCpuMsPerSecond.toFixed(1)} ms/s`,
  );
  for (const subscription of subscriptions) subscription.unsubscribe();
  await sleep(1_000);
}

async function main(): Promise<void> {
  if (CLUSTER) {
    const cluster = await startRedisCluster();
    try {
      const primaries = await cluster.primaries();
      const admins = primaries.map((p) => new Redis({ host: p.host, port: p.port }));
      const client = new Cluster(cluster.seeds);
      await measure('per-hold', client, admins);
      await measure('batched', client, admins);
      client.disconnect();
      for (const admin of admins) admin.disconnect();
    } finally {
      await cluster.stop();
    }
    return;
  }
  const server = await startRedisServer();
  try {
    const admin = new Redis(server.url);
    const client = new Redis(server.url);
    await measure('per-hold', client, [admin]);
    await measure('batched', client, [admin]);
    client.disconnect();
    admin.disconnect();
  } finally {
    await server.stop();
  }
}

main().then(
  () => process.exit(0),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
