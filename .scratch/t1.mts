import { Redis } from 'ioredis';
import { lock$ } from '../src/index';
import { diagnostics } from '../src/diagnostics';
import { startRedisServer } from '../spec/support/redis-server';
const server = await startRedisServer();
const client = new Redis(server.url);
const subs = [] as any[];
const got = [] as Promise<unknown>[];
for (let i = 0; i < 1000; i++) {
  got.push(new Promise((res) => subs.push(lock$(`t${i}`, { redis: client }).subscribe({ next: res, error: (e) => console.log('err', e) }))));
}
await Promise.all(got);
for (const s of subs) s.unsubscribe();
await new Promise((r) => setTimeout(r, 2000)); console.log(await client.keys("*").then(k=>k.length), (await client.info("commandstats")).split("\n").filter(l=>l.includes("evalsha")));
console.log(diagnostics, process.getActiveResourcesInfo().filter((r) => r === 'Timeout').length);
await client.quit();
await server.stop();
process.exit(0);
