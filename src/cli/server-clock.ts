import type { Cluster, Redis } from 'ioredis';
import { serverMs } from '../admin/hold-info';

/**
 * How far the Redis server's clock is ahead of this machine's, in ms, so
 * that `since` (by the server's clock) turns into an honest "held for" here.
 * Display only: 0 when the server does not say within `withinMs`.
 */
export async function serverClockOffset(client: Redis | Cluster, withinMs: number): Promise<number> {
  let timer: NodeJS.Timeout | undefined;
  try {
    const sent = Date.now();
    const time = await Promise.race([
      client.time(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error('no answer')), withinMs))),
    ]);
    return serverMs(time) - Math.round((sent + Date.now()) / 2);
  } catch {
    return 0;
  } finally {
    clearTimeout(timer);
  }
}
