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

/** Runs `use` on the hold at `address`, over a connection opened for it, within redisTimeout. */
export async function withTarget<T>(address: HoldAddress, use: (target: HoldTarget, connection: Connection) => Promise<T>): Promise<T> {
  const connection = openConnection(address.redis);
  const unavailable = (cause: unknown): RedisUnavailableError =>
    new RedisUnavailableError(address.name, connection.server, address.redisTimeout, { cause });
  try {
    const target = address.kind.target(connection, address.prefix, address.name);
    return await connection.deadlines.watch(use(target, connection), address.redisTimeout, () => unavailable(connection.lastError));
  } catch (error) {
    // Never a raw client error: a BUSY or LOADING reply, a closed connection, is Redis out of reach for now.
    if (error instanceof LockError) throw error;
    if (isTransient(error)) throw unavailable(error);
    throw new LockError(`lock '${address.name}': unexpected error from Redis: ${String(error)}`, address.name, { cause: error });
  } finally {
    connection.release();
  }
}
