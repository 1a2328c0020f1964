import { Redis } from 'ioredis';
import { now } from './clock';

export type CommandStats = ReadonlyMap<string, number>;

/** The harness's own connection: INFO, CLIENT LIST, PTTL, CONFIG. Never part of what is measured. */
export class Admin {
  static readonly CONNECTION_NAME = 'bench-admin';
  readonly client: Redis;

  constructor(url: string) {
    this.client = new Redis(url, { connectionName: Admin.CONNECTION_NAME, maxRetriesPerRequest: 3 });
  }

  /** Calls per command since the server started (INFO commandstats), including commands run inside scripts. */
  async commandStats(): Promise<CommandStats> {
    const text = await this.client.info('commandstats');
    const stats = new Map<string, number>();
    for (const match of text.matchAll(/^cmdstat_([^:]+):calls=(\d+)/gm)) stats.set(match[1] ?? '', Number(match[2]));
    return stats;
  }

  /** CPU seconds the Redis server has used (user + system, all threads; INFO cpu). */
  async cpuSeconds(): Promise<number> {
    const text = await this.client.info('cpu');
    const read = (field: string): number => Number(new RegExp(String.raw`(?:^|\n)${field}:([\d.]+)`).exec(text)?.[1] ?? Number.NaN);
    return read('used_cpu_user') + read('used_cpu_sys');
  }

  /** Pub/sub messages this cluster node sent over the bus (CLUSTER INFO): PUBLISH and SPUBLISH (Redis >= 7). */
  async clusterBusMessages(): Promise<{ publish: number; shard: number }> {
    const text = String(await this.client.call('CLUSTER', 'INFO'));
    const read = (field: string): number => Number(new RegExp(String.raw`(?:^|\n)${field}:(\d+)`).exec(text)?.[1] ?? 0);
    return { publish: read('cluster_stats_messages_publish_sent'), shard: read('cluster_stats_messages_publishshard_sent') };
  }

  /** CLIENT SETNAME of every connection (empty string when unnamed). */
  async clientNames(): Promise<string[]> {
    const list = await this.client.client('LIST');
    return String(list)
      .split('\n')
      .filter((line) => line.trim() !== '')
      .map((line) => /(?:^| )name=(\S*)/.exec(line)?.[1] ?? '');
  }

  /**
   * When each key's hold ends, on our clock: PTTL read in one pipeline,
   * counted from the middle of its round trip. null for a key without TTL.
   */
  async holdEnds(keys: readonly string[]): Promise<(number | null)[]> {
    const pipeline = this.client.pipeline();
    for (const key of keys) pipeline.pttl(key);
    const sentAt = now();
    const replies = (await pipeline.exec()) ?? [];
    const at = (sentAt + now()) / 2;
    return replies.map(([error, ttl]) => (error === null && typeof ttl === 'number' && ttl >= 0 ? at + ttl : null));
  }

  async serverInfo(): Promise<{ version: string; hz: string }> {
    const text = await this.client.info('server');
    const version = /redis_version:(\S+)/.exec(text)?.[1] ?? 'unknown';
    const hz = /(?:^|\n)hz:(\S+)/.exec(text)?.[1] ?? 'unknown';
    return { version, hz };
  }

  /**
   * Turns on the keyspace notifications yadl turns on by itself (K, g, x),
   * once for the whole run, so that every contender meets the same server
   * whatever ran before it.
   */
  async enableKeyspaceEvents(): Promise<string> {
    const reply = await this.client.config('GET', 'notify-keyspace-events');
    const current = Array.isArray(reply) && typeof reply[1] === 'string' ? reply[1] : '';
    const missing = ['K', 'g', 'x'].filter((flag) => !current.includes(flag) && !(flag !== 'K' && current.includes('A')));
    const merged = current + missing.join('');
    if (merged !== current) await this.client.config('SET', 'notify-keyspace-events', merged);
    return merged;
  }

  async close(): Promise<void> {
    await this.client.quit().catch(() => this.client.disconnect());
  }
}

/** Commands processed between two snapshots, without the harness's INFO calls. */
export function commandDelta(before: CommandStats, after: CommandStats): { total: number; byCommand: Record<string, number> } {
  const byCommand: Record<string, number> = {};
  let total = 0;
  for (const [command, calls] of after) {
    if (command === 'info') continue;
    const delta = calls - (before.get(command) ?? 0);
    if (delta <= 0) continue;
    byCommand[command] = delta;
    total += delta;
  }
  return { total, byCommand };
}
