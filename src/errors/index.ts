export { LockError } from './lock-error';
export { NotOwnerError } from './not-owner-error';
export { LockTimeoutError } from './lock-timeout-error';
export { ReplicationError } from './replication-error';
export { RedisUnavailableError } from './redis-unavailable-error';
export { LockLostError, type LockLostReason } from './lock-lost-error';
export { PermitsRangeError } from './permits-range-error';
