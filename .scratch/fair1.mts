import { Redis } from 'ioredis';
import { lock$ } from '../src/index';
import { diagnostics } from '../src/diagnostics';
import { startRedisServer } from '../spec/support/redis-server';
const server = await startRedisServer();
const admin = new Redis(server.url);
const order: string[] = [];
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const holderSub = lock$('f', { redis: server.url, fair: true }).subscribe({ next: () => order.push('holder'), error: (e) => console.log('holder err', e) });
await sleep(50);
const subs: any[] = [];
for (const who of ['a', 'b', 'c', 'd']) {
  const url = who === 'b' || who === 'd' ? server.url + '?x=' + who : server.url;
  subs.push(lock$('f', { redis: url, fair: true, mode: who === 'c' ? 'read' : 'write' }).subscribe({
    next: (l) => { order.push(who + ':' + l.fence); setTimeout(() => subs[['a','b','c','d'].indexOf(who)].unsubscribe(), 20); },
    error: (e) => console.log(who, 'err', e),
  }));
  await sleep(20);
}
console.log(await admin.hgetall('lock:{f}'));
const t0 = performance.now();
holderSub.unsubscribe();
await sleep(400);
console.log(order, (performance.now() - t0).toFixed(0));
console.log(await admin.hgetall('lock:{f}'), await admin.info('commandstats').then((i) => i.split('\n').filter((l) => l.includes('eval'))));
await sleep(1200);
console.log(diagnostics);
await admin.quit(); await server.stop(); process.exit(0);
