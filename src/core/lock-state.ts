import { RedisUnavailableError } from '../errors';
import { openConnection, type Connection } from '../redis/connection';
import type { HoldKind, HoldTarget, InspectReply } from '../redis/hold-kind';
import type { RedisSource } from './options';

/** Where a hold lives: what the admin operations below need. */
export interface HoldAddress {
  readonly kind: HoldKind;
  readonly name: string;
  readonly prefix: string;
  readonly redis: RedisSource;
  readonly redisTimeout: number;
}

/** Who holds it, without changing anything. `token` is compared with the holders'. */
export function inspectHold(address: HoldAddress, token = ''): Promise<InspectReply> {
  return withTarget(address, (target) => target.inspect(token));
}

/** Frees it whoever holds it, and wakes its waiters; true when it was held. */
export function forceReleaseHold(address: HoldAddress): Promise<boolean> {
  return withTarget(address, (target) => target.forceRelease());
}

/** Runs `use` on the hold at `address`, over a connection opened for it, within redisTimeout. */
export async function withTarget<T>(address: HoldAddress, use: (target: HoldTarget, connection: Connection) => Promise<T>): Promise<T> {
  const connection = openConnection(address.redis);
  try {
    const target = address.kind.target(connection, address.prefix, address.name);
    return await connection.deadlines.watch(
      use(target, connection),
      address.redisTimeout,
      () => new RedisUnavailableError(address.name, connection.server, address.redisTimeout, { cause: connection.lastError }),
    );
  } finally {
    connection.release();
  }
}
