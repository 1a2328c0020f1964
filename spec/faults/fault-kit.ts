/**
 * Shared set-up of the fault, load and security specs: private redis-server
 * processes (stopped after each test, once yadl has let go of them), admin
 * clients that are never the victims of CLIENT KILL, tracked lock$
 * subscriptions and worker processes, and the quiescence check after every
 * test (`expectQuiescent`: no connections, channels, queues or timers left).
 */
import { Redis, type RedisOptions } from 'ioredis';
import { afterEach, beforeEach } from 'vitest';
import type { Observable } from 'rxjs';
import type { Lease } from '../../src/index';
import { subscribeLock, type Holding } from '../core/holding';
import { startFaultProxy, type FaultProxy } from '../support/fault-proxy';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { startRedisServer, type RedisServerHandle, type StartRedisServerOptions } from '../support/redis-server';
import { spawnWorker, type WorkerProcess } from '../support/workers/spawn-worker';

export { subscribeLock, sleep, waitFor, within, type Holding } from '../core/holding';

/** The connection name of every admin client, so that CLIENT KILL can spare them. */
export const ADMIN_NAME = 'yadl-test-admin';

export interface FaultKit {
  /** A redis-server of this test's own, stopped after the test. */
  server(options?: StartRedisServerOptions): Promise<RedisServerHandle>;
  /** A client for fault injection and inspection, named ADMIN_NAME; closed after the test. */
  admin(url: string, options?: RedisOptions): Redis;
  /** A plain client (e.g. to pass to lock$ as `redis`); closed after the test. */
  client(url: string, options?: RedisOptions): Redis;
  /** Subscribes and tracks: unsubscribed after the test if still open. */
  hold(lock: Observable<Lease>): Holding;
  /** A worker of spec/support/fault-workers/, SIGKILLed after the test if still running. */
  worker(script: string, env: Record<string, string>): WorkerProcess;
  /**
   * A fault proxy to `server` (spec/support/fault-proxy.ts); healed (thawed,
   * replies released, no more delays or drops) before the quiescence check,
   * closed after it.
   */
  proxy(server: RedisServerHandle): Promise<FaultProxy>;
}

export function useFaultKit(): FaultKit {
  let timers = 0;
  const servers: RedisServerHandle[] = [];
  const clients: Redis[] = [];
  const holdings: Holding[] = [];
  const workers: WorkerProcess[] = [];
  const proxies: FaultProxy[] = [];

  beforeEach(async () => {
    // A test that failed may have left something open that closes later; do not blame the next test for it.
    await expectQuiescent(activeTimers(), 15_000).catch(() => undefined);
    timers = activeTimers();
  });

  afterEach(async () => {
    for (const holding of holdings.splice(0)) holding.unsubscribe();
    for (const w of workers.splice(0)) {
      w.kill();
      await w.exited;
    }
    // Our own clients first: one that reconnects to a dead server keeps a timer.
    await Promise.all(clients.splice(0).map(close));
    for (const p of proxies) heal(p);
    try {
      await expectQuiescent(timers);
    } finally {
      await Promise.all(proxies.splice(0).map((p) => p.close()));
      await Promise.all(servers.splice(0).map((s) => s.stop()));
    }
  });

  const track = (c: Redis): Redis => {
    c.on('error', () => undefined); // faults are the point here; commands report their own failures
    clients.push(c);
    return c;
  };

  return {
    server: async (options) => {
      const s = await startRedisServer(options);
      servers.push(s);
      return s;
    },
    admin: (url, options) => track(new Redis(url, { connectionName: ADMIN_NAME, ...options })),
    client: (url, options) => track(new Redis(url, options ?? {})),
    hold: (lock) => {
      const holding = subscribeLock(lock);
      holdings.push(holding);
      return holding;
    },
    worker: (script, env) => {
      const w = spawnWorker(`../fault-workers/${script}`, env);
      workers.push(w);
      return w;
    },
    proxy: async (server) => {
      const p = await startFaultProxy(server);
      proxies.push(p);
      return p;
    },
  };
}

/** Lets everything through again, so that what yadl still waits for can arrive before the quiescence check. */
function heal(p: FaultProxy): void {
  p.dropReplies(0);
  p.delayReplies(0);
  p.releaseReplies();
  p.thaw();
}

async function close(c: Redis): Promise<void> {
  if (c.status !== 'ready') {
    c.disconnect();
    return;
  }
  const quit = c.quit().then(
    () => undefined,
    () => c.disconnect(),
  );
  const timer = new Promise<void>((resolve) => setTimeout(resolve, 1_000).unref());
  await Promise.race([quit, timer]);
  c.disconnect();
}

/** Epoch milliseconds on a clock every process on this machine shares (sub-ms resolution). */
export function sharedNow(): number {
  return performance.timeOrigin + performance.now();
}

/** Subscribers of `channel` on the server, as PUBSUB NUMSUB reports them. */
export async function subscribers(admin: Redis, channel: string): Promise<number> {
  const reply = (await admin.call('PUBSUB', 'NUMSUB', channel)) as [string, number];
  return Number(reply[1]);
}

/** Polls an async condition every 20 ms; rejects after `withinMs`. */
export async function eventually(check: () => Promise<boolean>, withinMs: number, what: string): Promise<void> {
  const until = performance.now() + withinMs;
  for (;;) {
    if (await check()) return;
    if (performance.now() > until) throw new Error(`${what} not reached within ${withinMs} ms`);
    await new Promise((resolve) => setTimeout(resolve, 20));
  }
}

/** redis-server arguments for `busyFor`: BUSY replies once a script has run 100 ms (Redis 7's name of lua-time-limit). */
export const BUSY_SERVER_ARGS = ['--busy-reply-threshold', '100'];

/**
 * Keeps Redis in a script for `ms` (by the server's clock) and resolves when
 * it ends by itself; meanwhile, past the threshold, other clients' commands
 * are answered `BUSY`. Start the server with BUSY_SERVER_ARGS.
 */
export function busyFor(admin: Redis, ms: number): Promise<unknown> {
  const script = `
    local function now() local t = redis.call('TIME') return tonumber(t[1]) * 1000 + tonumber(t[2]) / 1000 end
    local from = now()
    while now() - from < tonumber(ARGV[1]) do end
    return 1`;
  return admin.eval(script, 0, ms);
}

/** `INFO commandstats` as { command: calls }. */
export async function commandCalls(admin: Redis): Promise<Record<string, number>> {
  const info = await admin.info('commandstats');
  const calls: Record<string, number> = {};
  for (const match of info.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) calls[match[1] as string] = Number(match[2]);
  return calls;
}

/** The lock's keys as yadl lays them out (see src/redis/keys.ts), for inspection from the outside. */
export function stateKey(prefix: string, name: string): string {
  const esc = (s: string): string => s.replace(/[%{}]/g, (c) => (c === '%' ? '%25' : c === '{' ? '%7B' : '%7D'));
  return `${prefix === '' ? '' : `${esc(prefix)}:`}lock:{${esc(name)}}`;
}

/** The keyspace channel of a lock's state on db 0. */
export function channelOf(prefix: string, name: string): string {
  return `__keyspace@0__:${stateKey(prefix, name)}`;
}
