import { LockError, RedisUnavailableError } from '../errors';
import { openConnection, type Connection } from '../redis/connection';
import { isTransient } from '../redis/deadline';
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

/**
 * Never a raw client error: yadl's own errors as they are; a BUSY or LOADING
 * reply, a closed connection, is Redis out of reach for now
 * (RedisUnavailableError); any other refusal a LockError with the cause.
 */
export function asHoldError(name: string, connection: Pick<Connection, 'server'>, redisTimeout: number, error: unknown): LockError {
  if (error instanceof LockError) return error;
  if (isTransient(error)) return new RedisUnavailableError(name, connection.server, redisTimeout, { cause: error });
  return new LockError(`'${name}': unexpected error from Redis: ${String(error)}`, name, { cause: error });
}

/** Runs `use` on the hold at `address`, over a connection opened for it, within redisTimeout. */
export async function withTarget<T>(address: HoldAddress, use: (target: HoldTarget, connection: Connection) => Promise<T>): Promise<T> {
  const connection = openConnection(address.redis);
  try {
    const target = address.kind.target(connection, address.prefix, address.name);
    return await connection.deadlines.watch(use(target, connection), address.redisTimeout, () =>
      asHoldError(address.name, connection, address.redisTimeout, connection.lastError),
    );
  } catch (error) {
    throw asHoldError(address.name, connection, address.redisTimeout, error);
  } finally {
    connection.release();
  }
}
