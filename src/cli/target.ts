import { Cluster, Redis } from 'ioredis';
import { checkPrefix, DEFAULT_REDIS_TIMEOUT } from '../core/options';
import { msOption, optionValue, type ParsedArgs } from './args';
import { CliError, UsageError } from './errors';

/** Where a command works: the Redis deployment, the prefix, and how long Redis may take. */
export interface Target {
  /** Where it is, for messages: host:port or the cluster's seeds, never a password. */
  readonly where: string;
  readonly prefix: string;
  readonly redisTimeout: number;
  /** Connects, or fails with one clear line; the client is the caller's to close. */
  connect(): Promise<Redis | Cluster>;
}

export const DEFAULT_URL = 'redis://127.0.0.1:6379/0';

/** The target of `--redis`/`$REDIS_URL` or `--cluster`, `--prefix` and `--redis-timeout`; UsageError when they make no sense. */
export function resolveTarget(args: ParsedArgs, command: string, env: NodeJS.ProcessEnv = process.env): Target {
  const redisTimeout = msOption(args, 'redis-timeout', command, DEFAULT_REDIS_TIMEOUT, 1);
  let prefix: string;
  try {
    prefix = checkPrefix(optionValue(args, 'prefix') ?? '');
  } catch (error) {
    throw new UsageError(error instanceof Error ? error.message : String(error), command);
  }
  const url = optionValue(args, 'redis');
  const seeds = optionValue(args, 'cluster');
  if (url !== undefined && seeds !== undefined) throw new UsageError('use either --redis or --cluster, not both', command);
  if (seeds !== undefined) return clusterTarget(parseSeeds(seeds, command), prefix, redisTimeout);
  const chosen = url ?? (env.REDIS_URL !== undefined && env.REDIS_URL !== '' ? env.REDIS_URL : DEFAULT_URL);
  return urlTarget(chosen, url === undefined && chosen !== DEFAULT_URL ? 'REDIS_URL' : '--redis', prefix, redisTimeout, command);
}

function urlTarget(text: string, from: string, prefix: string, redisTimeout: number, command: string): Target {
  let url: URL;
  try {
    url = new URL(text);
  } catch {
    throw new UsageError(`${from} is not a URL (expected redis://host:port/db)`, command);
  }
  if (url.protocol !== 'redis:' && url.protocol !== 'rediss:') {
    throw new UsageError(`${from} must be a redis:// or rediss:// URL, got ${url.protocol}//...`, command);
  }
  const db = url.pathname.replace(/^\//, '') || '0';
  if (!/^\d+$/.test(db)) throw new UsageError(`${from} names database '${db}'; expected a number`, command);
  const where = `${url.hostname || '127.0.0.1'}:${url.port || '6379'}/${db}`;
  return {
    where,
    prefix,
    redisTimeout,
    connect: () => {
      let connected = false;
      const client = new Redis(text, {
        lazyConnect: true,
        connectTimeout: redisTimeout,
        disconnectTimeout: 100,
        // Fail fast on the first connection; once up, ride out outages as long as the lock does.
        retryStrategy: (times) => (connected ? Math.min(times * 100, 2_000) : null),
      });
      return opened(client, where, redisTimeout).then((ready) => {
        connected = true;
        return ready;
      });
    },
  };
}

function clusterTarget(seeds: { host: string; port: number }[], prefix: string, redisTimeout: number): Target {
  const where = `cluster ${seeds.map((s) => `${s.host}:${s.port}`).join(',')}`;
  return {
    where,
    prefix,
    redisTimeout,
    connect: () => {
      let connected = false;
      const client = new Cluster(seeds, {
        lazyConnect: true,
        clusterRetryStrategy: (times) => (connected ? Math.min(times * 100, 2_000) : null),
        redisOptions: { connectTimeout: redisTimeout, disconnectTimeout: 100 },
      });
      return opened(client, where, redisTimeout).then((ready) => {
        connected = true;
        return ready;
      });
    },
  };
}

function parseSeeds(text: string, command: string): { host: string; port: number }[] {
  return text.split(',').map((part) => {
    const match = /^(?:\[([^\]]+)\]|([^:[\]]+)):(\d{1,5})$/.exec(part.trim());
    const port = Number(match?.[3]);
    if (match === null || port < 1 || port > 65_535) {
      throw new UsageError(`--cluster expects host:port[,host:port...], got '${part}'`, command);
    }
    return { host: (match[1] ?? match[2]) as string, port };
  });
}

/** Connects within redisTimeout, or disconnects and says why in one line. */
async function opened<C extends Redis | Cluster>(client: C, where: string, redisTimeout: number): Promise<C> {
  let lastError: Error | undefined;
  // ioredis also reports every reconnect failure here; commands report their own.
  client.on('error', (error: Error) => {
    lastError = error;
  });
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${redisTimeout} ms`)), redisTimeout);
  });
  try {
    await Promise.race([client.connect(), timeout]);
    return client;
  } catch (error) {
    client.disconnect();
    const cause = (error as { lastNodeError?: Error }).lastNodeError ?? lastError ?? error;
    throw new CliError(`cannot connect to Redis at ${where}: ${cause instanceof Error ? cause.message : String(cause)}`);
  } finally {
    clearTimeout(timer);
  }
}

/** QUIT, so that commands already sent (a release) are answered first; bounded, then closed anyway. */
export async function closeClient(client: Redis | Cluster): Promise<void> {
  const quit = client.quit().then(
    () => undefined,
    () => undefined,
  );
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([quit, new Promise<void>((resolve) => (timer = setTimeout(resolve, 1_000)))]);
  clearTimeout(timer);
  client.disconnect();
}
