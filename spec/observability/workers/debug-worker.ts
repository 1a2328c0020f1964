/**
 * Run with NODE_DEBUG=yadl by debug.spec.ts. Env: REDIS_URL, PREFIX.
 * A hold renewed a few times while another subscription waits; the
 * subscriber connection killed meanwhile (it reconnects); the release wakes
 * the waiter; then a fixed ttl runs out. Prints {"tokens":[...]} with the
 * owner tokens of its leases, then {"done":true}, and exits.
 */
import { Redis } from 'ioredis';
import type { Observable } from 'rxjs';
import { lock$, type Lease } from '../../../src/index';

const { REDIS_URL: url = '', PREFIX: prefix = '' } = process.env;
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

interface Held {
  lease: Promise<Lease>;
  ended: Promise<unknown>;
  unsubscribe(): void;
}

function hold(lock: Observable<Lease>): Held {
  let granted!: (lease: Lease) => void;
  let ended!: (error: unknown) => void;
  const lease = new Promise<Lease>((resolve) => (granted = resolve));
  const end = new Promise<unknown>((resolve) => (ended = resolve));
  const subscription = lock.subscribe({ next: granted, error: ended });
  return { lease, ended: end, unsubscribe: () => subscription.unsubscribe() };
}

async function main(): Promise<void> {
  const admin = new Redis(url);
  const tokens: string[] = [];
  // Leases long enough that a loaded machine does not lose them before the release.
  const holder = hold(lock$('dbg', { redis: url, prefix, lease: 1_500 }));
  tokens.push((await holder.lease).token);
  const waiter = hold(lock$('dbg', { redis: url, prefix, lease: 1_500 }));
  await sleep(1_200); // renewals every 500 ms
  await admin.client('KILL', 'TYPE', 'pubsub');
  await sleep(700); // the subscriber reconnects and resubscribes
  holder.unsubscribe();
  tokens.push((await waiter.lease).token);
  waiter.unsubscribe();
  const expiring = hold(lock$('dbg-ttl', { redis: url, prefix, ttl: 200 }));
  tokens.push((await expiring.lease).token);
  await expiring.ended;
  console.log(JSON.stringify({ tokens }));
  await admin.quit();
  console.log(JSON.stringify({ done: true }));
  process.exit(0);
}

void main();
