import { randomUUID } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterEach, inject } from 'vitest';

/**
 * The shared test Redis (see global-setup.ts) for one spec file: a URL,
 * a fresh key prefix per call so that files running in parallel never meet,
 * and ioredis clients that are closed after each test.
 */
export function useRedis(): { url: string; prefix: () => string; client: () => Redis } {
  const url = inject('redisUrl');
  const clients: Redis[] = [];
  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
  });
  return {
    url,
    prefix: () => `t-${randomUUID().slice(0, 8)}`,
    client: () => {
      const c = new Redis(url);
      clients.push(c);
      return c;
    },
  };
}
