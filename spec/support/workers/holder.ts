/**
 * Holds a ttl-less lock until killed. Env: REDIS_URL, PREFIX, NAME, LEASE.
 * Prints {"acquired":true,"fence":f} once it holds the lock.
 */
import { lock$ } from '../../../src/index';

const { REDIS_URL: url = '', PREFIX: prefix = '', NAME: name = 'held', LEASE = '30000' } = process.env;

lock$(name, { redis: url, prefix, lease: Number(LEASE) }).subscribe({
  next: (lease) => console.log(JSON.stringify({ acquired: true, fence: lease.fence })),
  error: (error: unknown) => {
    console.log(JSON.stringify({ error: String(error) }));
    process.exitCode = 1;
  },
});
