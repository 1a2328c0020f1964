/**
 * Multi-lock mutual-exclusion worker: ITERATIONS times, picks SET_SIZE of
 * NAMES names at random, in a random order, takes them all with lockAll$,
 * and for each name reads its counter with GET, sleeps ~1 ms and writes it
 * back + 1 (a read-modify-write that loses updates unless every name is
 * exclusive), then releases. Env: REDIS_URL, PREFIX, NAMES, SET_SIZE,
 * ITERATIONS. Prints {"done":true,"sections":[{"name":n,"read":r,"fence":f},...]}.
 */
import { Redis } from 'ioredis';
import { lockAll$, type MultiLease } from '../../../src/index';

const { REDIS_URL: url = '', PREFIX: prefix = '', NAMES = '8', SET_SIZE = '3', ITERATIONS = '20' } = process.env;
const client = new Redis(url);
const sections: { name: string; read: number; fence: number }[] = [];
const pool = Array.from({ length: Number(NAMES) }, (_, i) => `n${i}`);

function pick(): string[] {
  const names = [...pool];
  for (let i = names.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [names[i], names[j]] = [names[j]!, names[i]!];
  }
  return names.slice(0, Number(SET_SIZE));
}

function withAll(names: string[], work: (lease: MultiLease) => Promise<void>): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const subscription = lockAll$(names, { redis: url, prefix }).subscribe({
      next: (lease) => {
        work(lease).then(
          () => {
            subscription.unsubscribe();
            resolve();
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
  await withAll(pick(), async (lease) => {
    await Promise.all(
      lease.names.map(async (name) => {
        const key = `${prefix}:counter:${name}`;
        const read = Number((await client.get(key)) ?? '0');
        await new Promise((resolve) => setTimeout(resolve, 1));
        await client.set(key, String(read + 1));
        sections.push({ name, read, fence: lease.fences[name]! });
      }),
    );
  });
}
await client.quit();
console.log(JSON.stringify({ done: true, sections }));
