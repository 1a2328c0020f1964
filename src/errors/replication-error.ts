import { LockError } from './lock-error';

/**
 * The `replicas` option asked that a hold reach that many replicas before it
 * counts, and fewer acknowledged it within `replicaTimeout`: the hold was
 * given back, since a failover could lose it.
 */
export class ReplicationError extends LockError {
  override name = 'ReplicationError';

  constructor(
    lock: string,
    readonly required: number,
    readonly acknowledged: number,
  ) {
    super(`lock '${lock}' reached ${Math.max(0, acknowledged)} of the ${required} replicas required; released it`, lock);
  }
}
