import type { Cluster, Redis } from 'ioredis';

/** K: keyspace channels; g: generic commands (del); x: expired. */
const NEEDED = ['K', 'g', 'x'] as const;

/**
 * Turns on the keyspace-notification flags yadl listens to, merged with
 * those already set. Resolves true when they are on; false when CONFIG is
 * not allowed (renamed, ACL, managed Redis) and they are not known to be on,
 * in which case the release scripts publish the events themselves.
 */
export async function enableKeyspaceEvents(client: Redis): Promise<boolean> {
  try {
    const reply = (await client.config('GET', 'notify-keyspace-events'));
    const current = Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : '';
    const merged = mergeFlags(current);
    if (merged !== current) await client.config('SET', 'notify-keyspace-events', merged);
    return true;
  } catch {
    return false;
  }
}

export function mergeFlags(current: string): string {
  const missing = NEEDED.filter((flag) => !current.includes(flag) && !(flag !== 'K' && current.includes('A')));
  return missing.length === 0 ? current : current + missing.join('');
}

/** The same on every node of a cluster (replicas too, so a promoted one has them). */
export async function enableKeyspaceEventsOnCluster(cluster: Cluster): Promise<boolean> {
  if (cluster.status !== 'ready') {
    await new Promise<void>((resolve) => {
      const done = (): void => {
        cluster.off('ready', done);
        cluster.off('end', done);
        resolve();
      };
      cluster.on('ready', done);
      cluster.on('end', done);
    });
  }
  const nodes = cluster.nodes('all');
  if (nodes.length === 0) return false;
  const results = await Promise.all(nodes.map((node) => enableKeyspaceEvents(node)));
  return results.every(Boolean);
}
