import { RedisUnavailableError } from '../errors';
import { openConnection } from '../redis/connection';
import { lockKeys } from '../redis/keys';
import type { InspectReply } from '../redis/lock-scripts';
import type { RedisSource } from './options';

/** Where a lock lives: what the admin operations below need. */
export interface LockAddress {
  readonly name: string;
  readonly prefix: string;
  readonly redis: RedisSource;
  readonly redisTimeout: number;
}

/** Who holds the lock, without changing anything. `token` is compared with the holder's. */
export function inspectLock(address: LockAddress, token = ''): Promise<InspectReply> {
  return withConnection(address, (connection, keys) => connection.scripts.inspect(keys, token));
}

/** Frees the lock whoever holds it; true when it was held. */
export function forceReleaseLock(address: LockAddress): Promise<boolean> {
  return withConnection(address, (connection, keys) =>
    connection.scripts.forceRelease(keys, connection.wakeChannel(keys)),
  );
}

async function withConnection<T>(
  address: LockAddress,
  use: (connection: ReturnType<typeof openConnection>, keys: ReturnType<typeof lockKeys>) => Promise<T>,
): Promise<T> {
  const connection = openConnection(address.redis);
  try {
    const keys = lockKeys(address.prefix, address.name, connection.db, connection.keyPrefix);
    return await connection.deadlines.watch(
      use(connection, keys),
      address.redisTimeout,
      () => new RedisUnavailableError(address.name, connection.server, address.redisTimeout, { cause: connection.lastError }),
    );
  } finally {
    connection.release();
  }
}
