export { lock$ } from './core/lock';
export type { Lease } from './core/lease';
export type { LockMode, LockOptions, RedisSource } from './core/options';
export { RedisLock } from './facade/redis-lock';
export { RedisRLock } from './facade/redis-rlock';
export type { AcquireOptions, RedisLockOptions, ReleaseOptions } from './facade/facade-options';
export { LockError, LockLostError, LockTimeoutError, NotOwnerError, type LockLostReason } from './errors';
