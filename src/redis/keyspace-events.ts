import type { Redis } from 'ioredis';
import { debugSubscriber } from '../observability/debug';

/**
 * Whether yadl turns expiry notifications on (see README, "keyspaceEvents"):
 * - `configure`: the subscriber connection merges `Kx` into
 *   notify-keyspace-events with CONFIG SET, before it subscribes and after
 *   every reconnect;
 * - `assume`: never runs CONFIG; the server is trusted to publish expiries;
 * - `off`: never runs CONFIG, and counts on no expiry event: a lock freed by
 *   expiry is noticed at the waiters' deadline retry.
 * Waiters always keep that deadline retry and always wake on release
 * messages (which yadl's scripts publish themselves), so `assume` and `off`
 * send Redis the same commands: `off` says what to expect of the server.
 */
export type KeyspaceEvents = 'configure' | 'assume' | 'off';

export const KEYSPACE_EVENTS: readonly KeyspaceEvents[] = ['configure', 'assume', 'off'];

/**
 * K: keyspace channels; x: expired. That is all: yadl's scripts publish the
 * wake-up of every release themselves, so generic events (g: every DEL and
 * EXPIRE in the database) stay off and cost other workloads nothing.
 */
const NEEDED = ['K', 'x'] as const;

/**
 * Turns on the keyspace-notification flags yadl listens to, merged with
 * those already set. Resolves true when they are on; false when CONFIG is
 * not allowed (renamed, ACL, managed Redis): waiters then learn of a hold
 * that expired at its deadline retry instead of from the `expired` event.
 */
export async function enableKeyspaceEvents(client: Redis): Promise<boolean> {
  try {
    const reply = (await client.config('GET', 'notify-keyspace-events'));
    const current = Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : '';
    const merged = mergeFlags(current);
    if (merged !== current) await client.config('SET', 'notify-keyspace-events', merged);
    debugSubscriber(serverOf(client), `notify-keyspace-events is '${merged}'`);
    return true;
  } catch (error) {
    debugSubscriber(serverOf(client), `CONFIG refused (${error instanceof Error ? error.name : 'error'}): expiries are noticed at deadline retries`);
    return false;
  }
}

export function mergeFlags(current: string): string {
  const missing = NEEDED.filter((flag) => !current.includes(flag) && !(flag !== 'K' && current.includes('A')));
  return missing.length === 0 ? current : current + missing.join('');
}

/** host:port (or the socket path) of a subscriber connection, for debug lines: no credentials. */
export function serverOf(client: Redis): string {
  const { host, port, path } = client.options;
  return path ? `unix:${path}` : `${host ?? '127.0.0.1'}:${port ?? 6379}`;
}
