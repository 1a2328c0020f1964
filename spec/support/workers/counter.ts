/**
 * Mutual-exclusion worker: ITERATIONS times, takes the lock, reads a counter
 * with GET, sleeps ~1 ms and writes it back + 1 with SET (a read-modify-write
 * that loses updates unless the lock excludes the other workers), releases.
 * Env: REDIS_URL, PREFIX, NAME, ITERATIONS. Prints
 * {"done":true,"sections":[{"read":n,"fence":f},...]} and exits by itself.
 */
import { Redis } from 'ioredis';
import { lock$, type Lease } from '../../../src/index';

const { REDIS_URL: url = '', PREFIX: prefix = '', NAME: name = 'counter', ITERATIONS = '25' } = process.env;
const counterKey = `${prefix}:counter`;
const client = new Redis(url);
const sections: { read: number; fence: number }[] = [];

function withLock<T>(work: (lease: Lease) => Promise<T>): Promise<T> {
  return new Promise<T>((resolve, reject) => {
    const subscription = lock$(name, { redis: url, prefix }).subscribe({
      next: (lease) => {
        work(lease).then(
          (value) => {
            subscription.unsubscribe();
            resolve(value);
          },
          (error: unknown) => {
            subscription.unsubscribe();
            reject(error instanceof Error ? error : new Error(String(error)));
          },
        );
      },
      error: (error: unknown) => reject(error instanceof Error ? error : new Error(String(error))),
    });
  });
}

for (let i = 0; i < Number(ITERATIONS); i++) {
  await withLock(async (lease) => {
    const read = Number((await client.get(counterKey)) ?? '0');
    await new Promise((resolve) => setTimeout(resolve, 1));
    await client.set(counterKey, String(read + 1));
    sections.push({ read, fence: lease.fence });
  });
}
await client.quit();
console.log(JSON.stringify({ done: true, sections }));
