import type { Held } from './types';

/**
 * A Held for `release`. The benchmarks run through tsx, whose esbuild
 * `keepNames` wraps every named function expression made at run time
 * (`{ release: async () => ... }`) in a defineProperty call that gives it a
 * property dictionary of its own: a cost per lock that no contender's
 * published JavaScript has. An arrow passed as an argument has no name to
 * keep, so every adapter builds its Held through here.
 */
export function held(release: () => Promise<unknown>, fence?: number): Held {
  return fence === undefined ? { release: release as () => Promise<void> } : { release: release as () => Promise<void>, fence };
}
