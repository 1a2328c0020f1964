import { checkName, describe, resolveLockOptions, type LockOptions, type LockSettings } from './options';

/** More names than this in one multi-lock: a RangeError (each is 2 keys of one script). */
export const MAX_NAMES = 1_000;

export interface LockAllOptions extends Omit<LockOptions, 'fair' | 'handoffGrace'> {
  /** Not supported: a multi-lock never waits in a fair line (see README, "Multi-resource locks"). */
  fair?: false;
}

/** lockAll$'s settings: the names as given, and lock$'s settings for all of them. */
export interface LockAllSettings {
  readonly names: readonly string[];
  /** Validated lock options; `name` is a label of the names for messages. */
  readonly lock: LockSettings;
}

/** Validates names and options before any Redis I/O, throwing TypeError or RangeError. */
export function resolveLockAllOptions(names: unknown, options: unknown, what = 'lockAll$ options'): LockAllSettings {
  const checked = checkNames(names);
  const lock = resolveLockOptions(checked[0], options, what);
  if (lock.fair) {
    throw new RangeError(
      'lockAll$ does not take fair: true: a fair line is per name, and a place in several lines at once could deadlock; ' +
        'a multi-lock waits until the fair lines of its names are empty',
    );
  }
  return { names: checked, lock: { ...lock, name: namesLabel(checked) } };
}

export function checkNames(names: unknown): string[] {
  if (!Array.isArray(names)) throw new TypeError(`names must be an array of lock names, got ${describe(names)}`);
  if (names.length === 0) throw new RangeError('names must not be empty: a multi-lock takes at least one name');
  if (names.length > MAX_NAMES) throw new RangeError(`names holds ${names.length} names; the maximum is ${MAX_NAMES}`);
  const seen = new Set<string>();
  for (const name of names) {
    const checked = checkName(name);
    if (seen.has(checked)) throw new RangeError(`names must not repeat a name: '${checked}' appears more than once`);
    seen.add(checked);
  }
  return [...(names as string[])];
}

/** The names in messages: all of a few, the first few of many. */
export function namesLabel(names: readonly string[]): string {
  if (names.length <= 3) return names.join(', ');
  return `${names.slice(0, 3).join(', ')} and ${names.length - 3} more`;
}
