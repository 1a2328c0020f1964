/**
 * Vitest globalSetup: picks the shared test Redis and provides its URL as
 * `inject('redisUrl')`.
 *
 *   1. REDIS_URL, when set (it must be a Redis you may flush);
 *   2. a Redis container via testcontainers, when a Docker engine answers;
 *   3. `redis-server` from PATH, on a free loopback port;
 *   4. otherwise: a clear error saying how to get one.
 *
 * Never uses a Redis that merely happens to listen on 6379.
 */
import { existsSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { REDIS_SERVER_MISSING_MESSAGE, redisServerAvailable, startRedisServer } from './redis-server';

const DOCKER_START_TIMEOUT_MS = 60_000;

type Teardown = () => Promise<void>;

function dockerConfigured(): boolean {
  return Boolean(process.env.DOCKER_HOST) || existsSync('/var/run/docker.sock');
}

async function withTimeout<T>(promise: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`${what} did not finish within ${ms} ms`)), ms);
  });
  try {
    return await Promise.race([promise, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

async function tryContainer(): Promise<{ url: string; teardown: Teardown } | null> {
  if (!dockerConfigured()) return null;
  try {
    const { RedisContainer } = await import('@testcontainers/redis');
    const starting = new RedisContainer('redis:7-alpine').start();
    let container;
    try {
      container = await withTimeout(starting, DOCKER_START_TIMEOUT_MS, 'starting the Redis container');
    } catch (err) {
      // If it does come up late, do not leave it behind.
      starting.then((c) => c.stop()).catch(() => undefined);
      throw err;
    }
    const url = `redis://${container.getHost()}:${container.getMappedPort(6379)}/0`;
    return { url, teardown: async () => void (await container.stop()) };
  } catch (err) {
    console.warn(`[yadl tests] Docker looked available but no Redis container started: ${(err as Error).message}`);
    return null;
  }
}

export default async function setup({ provide }: TestProject): Promise<Teardown> {
  const fromEnv = process.env.REDIS_URL;
  if (fromEnv) {
    console.log('[yadl tests] using REDIS_URL');
    provide('redisUrl', fromEnv);
    return async () => {};
  }

  const container = await tryContainer();
  if (container) {
    console.log(`[yadl tests] using a testcontainers Redis at ${container.url}`);
    provide('redisUrl', container.url);
    return container.teardown;
  }

  if (redisServerAvailable()) {
    const server = await startRedisServer();
    console.log(`[yadl tests] using redis-server from PATH at ${server.url} (pid ${server.pid})`);
    provide('redisUrl', server.url);
    return () => server.stop();
  }

  throw new Error(REDIS_SERVER_MISSING_MESSAGE);
}
