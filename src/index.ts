export { lock$ } from './core/lock';
export type { Lease } from './core/lease';
export type { HoldMode, KeyspaceEvents, LockMode, LockOptions, RedisSource } from './core/options';
export {
  ACQUIRE_CHANNEL,
  LOST_CHANNEL,
  RELEASE_CHANNEL,
  type AcquireMessage,
  type LockKind,
  type LostMessage,
  type ReleaseMessage,
} from './observability/channels';
export { RedisLock } from './facade/redis-lock';
export { RedisRLock } from './facade/redis-rlock';
export { RedisReadLock } from './facade/redis-read-lock';
export { RedisWriteLock } from './facade/redis-write-lock';
export type { AcquireOptions, RedisLockOptions, ReleaseOptions } from './facade/facade-options';
export {
  LockError,
  LockLostError,
  LockTimeoutError,
  NotOwnerError,
  RedisUnavailableError,
  ReplicationError,
  type LockLostReason,
} from './errors';
export { query, type QueryOptions } from './admin/query';
export type { HoldInfo } from './admin/hold-info';
export { lockAll$ } from './core/lock-all';
export type { MultiLease } from './core/multi-lease';
export type { LockAllOptions } from './core/multi-options';
export { RedisMultiLock, type RedisMultiLockOptions } from './facade/redis-multi-lock';
