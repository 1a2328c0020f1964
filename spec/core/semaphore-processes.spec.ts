/**
 * semaphore$ across processes: a holder killed with SIGKILL gives its
 * permits back within one lease, and waiters send nothing while idle.
 */
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { RedisSemaphore } from '../../src/index';
import { commandCalls, newCalls } from '../facade/facade-fixture';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';
import { spawnWorker, type WorkerProcess } from '../support/workers/spawn-worker';
import { sleep } from './holding';

const redis = useRedis();
let timersBefore = 0;
const workers: WorkerProcess[] = [];
const servers: RedisServerHandle[] = [];
const instances: RedisSemaphore[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  await Promise.all(instances.splice(0).map((sem) => sem[Symbol.asyncDispose]().catch(() => undefined)));
  for (const w of workers.splice(0)) {
    w.kill();
    await w.exited;
  }
  await expectQuiescent(timersBefore);
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

function semaphore(options: ConstructorParameters<typeof RedisSemaphore>[1]): RedisSemaphore {
  const sem = new RedisSemaphore('pool', options);
  instances.push(sem);
  return sem;
}

describe('semaphore$ across processes', { timeout: 60_000 }, () => {
  it("a holder killed with SIGKILL gives its permits back within one lease, by the server's clock", async () => {
    const LEASE = 900;
    const prefix = redis.prefix();
    const admin = semaphore({ redis: redis.client(), prefix, limit: 3 });
    await admin.setLimit(3);
    const child = spawnWorker('./semaphore-worker.ts', { REDIS_URL: redis.url, PREFIX: prefix, LEASE: String(LEASE) }, { ipc: true, bundle: true });
    workers.push(child);
    await child.message((m) => m.ev === 'ready');
    child.child.send({ op: 'acquire', id: 1, permits: 2 });
    await child.message((m) => m.ev === 'granted' && m.id === 1, 10_000);
    // Renewed meanwhile: the grant outlives its first lease while the process lives.
    await sleep(LEASE * 1.5);
    expect(await admin.available()).toBe(1);

    const waiter = semaphore({ redis: redis.client(), prefix });
    const waiting = waiter.acquire({ permits: 3 });
    const killedAt = performance.now();
    child.kill('SIGKILL');
    expect(await waiting).toBe(true);
    const freedAfter = performance.now() - killedAt;
    expect(freedAfter, 'back within one lease of the kill').toBeLessThan(LEASE + 1_000);
    expect(freedAfter, 'not before the last renewal ran out').toBeGreaterThan(LEASE / 2);
    await waiter.release({ permits: 3 });
  });

  it('waiters, default and fair, send Redis nothing while idle', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const holder = semaphore({ redis: server.url, limit: 2 });
    await holder.acquire({ permits: 2 });
    const waiters = [
      ...Array.from({ length: 3 }, () => semaphore({ redis: server.url })),
      ...Array.from({ length: 3 }, () => semaphore({ redis: server.url, fair: true })),
    ];
    // Each gives its permits back once it has them, so that all get their turn.
    const waits = waiters.map(async (w, i) => {
      const permits = 1 + (i % 2);
      await w.acquire({ permits });
      await w.release({ permits });
    });
    await sleep(300);
    const { Redis } = await import('ioredis');
    const observer = new Redis(server.url);
    try {
      const before = await commandCalls(observer);
      await sleep(2_000);
      const sent = newCalls(before, await commandCalls(observer));
      expect(sent, 'commands from 6 idle waiters in 2 s').toEqual({});
    } finally {
      observer.disconnect();
    }
    await holder.release({ permits: 2 });
    await Promise.all(waits);
  });
});
