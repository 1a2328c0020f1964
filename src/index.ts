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
export type { ElectionInfo, HoldInfo, HoldInfoKind, LockHoldInfo, SemaphoreHolder, SemaphoreInfo } from './admin/hold-info';
export { semaphore$ } from './core/semaphore';
export type { SemaphoreLease } from './core/semaphore-lease';
export type { SemaphoreOptions } from './core/semaphore-options';
export { RedisSemaphore, type RedisSemaphoreOptions, type SemaphoreAcquireOptions, type SemaphoreReleaseOptions } from './facade/redis-semaphore';
export { elect$ } from './core/elect';
export { leader$ } from './core/leader';
export type { Leader, Term } from './core/term';
export type { ElectOptions, LeaderOptions } from './core/election-options';
export { RedisElection, type CampaignOptions, type RedisElectionOptions } from './facade/redis-election';
export { lockAll$ } from './core/lock-all';
export type { MultiLease } from './core/multi-lease';
export type { LockAllOptions } from './core/multi-options';
export { RedisMultiLock, type RedisMultiLockOptions } from './facade/redis-multi-lock';
