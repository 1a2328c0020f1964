import { semaphoreKind } from '../redis/kinds/semaphore-kind';
import { checkName, checkOptionsObject, describe, LOCK_OPTION_NAMES, resolveLockOptions, type LockOptions, type LockSettings } from './options';

export interface SemaphoreOptions extends Omit<LockOptions, 'mode'> {
  /**
   * The number of permits. Stored in Redis by the first acquisition of the
   * name (or `setLimit`); the stored limit wins: a different one here
   * rejects with LockError. Optional once a limit is stored.
   */
  limit?: number;
  /** Permits taken at once, all or none. Default 1. */
  permits?: number;
}

/** `lock$`'s settings with the semaphore's request. */
export interface SemaphoreSettings extends LockSettings {
  /** 0: none passed (the stored one is used). */
  readonly limit: number;
  readonly permits: number;
}

/** lock$'s options but `mode` (permits are shared holds), and the semaphore's own. */
const SEMAPHORE_OPTION_NAMES = [...LOCK_OPTION_NAMES.filter((option) => option !== 'mode'), 'limit', 'permits'] as const;

/** A whole number of permits >= 1. */
export function checkPermitCount(value: unknown, what: 'limit' | 'permits'): number {
  if (typeof value !== 'number') throw new TypeError(`${what} must be a number, got ${describe(value)}`);
  if (!Number.isInteger(value)) throw new RangeError(`${what} must be a whole number, got ${value}`);
  if (value < 1) throw new RangeError(`${what} must be at least 1, got ${value}`);
  if (value > 2 ** 31 - 1) throw new RangeError(`${what} must be at most ${2 ** 31 - 1}, got ${value}`);
  return value;
}

/** `limit` (0: none) and `permits`, checked against each other before any I/O. */
export function checkRequest(limit: unknown, permits: unknown): { limit: number; permits: number } {
  const checkedLimit = limit === undefined ? 0 : checkPermitCount(limit, 'limit');
  const checkedPermits = permits === undefined ? 1 : checkPermitCount(permits, 'permits');
  if (checkedLimit > 0 && checkedPermits > checkedLimit) {
    throw new RangeError(`permits (${checkedPermits}) must not exceed the limit (${checkedLimit})`);
  }
  return { limit: checkedLimit, permits: checkedPermits };
}

/** Validates everything before any Redis I/O, throwing TypeError or RangeError. */
export function resolveSemaphoreOptions(name: unknown, options: unknown): SemaphoreSettings {
  const { limit, permits, ...lockOptions } = checkOptionsObject(options, SEMAPHORE_OPTION_NAMES, 'semaphore$ options');
  const request = checkRequest(limit, permits);
  const settings = resolveLockOptions(checkName(name, 'semaphore name'), lockOptions);
  return {
    ...settings,
    ...request,
    mode: 'read',
    kind: semaphoreKind({ ...request, fair: settings.fair, label: settings.label }),
  };
}
