/**
 * Prints every emission of leader$ as {leader: {fence, value} | null, at}.
 * Env: REDIS_URL, PREFIX, NAME.
 */
import { leader$ } from '../../../src/index';

const env = process.env;
const now = (): number => performance.timeOrigin + performance.now();
leader$(env.NAME ?? 'election', { redis: env.REDIS_URL ?? '', prefix: env.PREFIX ?? '' }).subscribe({
  next: (leader) => console.log(JSON.stringify({ leader, at: now() })),
  error: (error: unknown) => console.log(JSON.stringify({ error: String(error) })),
});
