import type { Subscription } from 'rxjs';
import type { AcquisitionObserver } from '../core/acquisition';
import { HeldLease } from '../core/held-lease';
import { lockAllWithSettings$ } from '../core/lock-all';
import { HeldMultiLease, type MultiLease } from '../core/multi-lease';
import { checkNames, namesLabel } from '../core/multi-options';
import { checkOptionsObject, modeAndLine, type HoldMode, type LockMode, type LockSettings } from '../core/options';
import type { HoldKind } from '../redis/hold-kind';
import { MultiLockKind } from '../redis/kinds/multi-lock-kind';
import { FacadeLock, type Holding } from './facade-lock';
import { LOCK_OPTIONS, type RedisLockOptions } from './facade-options';

/** RedisMultiLock's options: the facade's, and the mode every name is taken in. */
export interface RedisMultiLockOptions extends Omit<RedisLockOptions, 'fair' | 'handoffGrace'> {
  /** `exclusive` (default) or `write`, which are the same, or `read`: read locks on every name. */
  mode?: LockMode;
  /** Not supported (see lockAll$). */
  fair?: false;
}

/**
 * The promise facade over `lockAll$`: several locks held together, all or
 * nothing, taken in one global order so that no two instances deadlock
 * whatever order their names were given in. Everything else is `RedisLock`'s
 * (one owner per instance, not reentrant; `release({ force: true })` frees
 * every name; `locked()` tells whether anyone holds any of them). `fence` is
 * the first name's; `fences` has every name's. The constructor does no Redis
 * I/O; bad names or options throw TypeError or RangeError.
 */
export class RedisMultiLock extends FacadeLock {
  protected readonly reentrant = false;
  protected override readonly mode: HoldMode;
  readonly names: readonly string[];
  /** The multi-lease behind the current hold (read only while `fence` says there is one). */
  private current: MultiLease | undefined;

  constructor(names: readonly string[], options?: RedisMultiLockOptions) {
    const checked = checkNames(names);
    const { mode, ...rest } = checkOptionsObject(options, ['mode', ...LOCK_OPTIONS], 'RedisMultiLock options');
    super(checked[0] as string, rest as RedisLockOptions);
    if (this.settings.fair) throw new RangeError('RedisMultiLock does not take fair: true (see lockAll$)');
    this.mode = modeAndLine(mode, false, undefined, undefined).mode;
    this.names = Object.freeze(checked);
    // Messages name the lock by its names.
    (this as { name: string }).name = namesLabel(checked);
  }

  /** Each name's fencing token in this instance's current hold. */
  get fences(): Readonly<Record<string, number>> | undefined {
    return this.fence === undefined ? undefined : this.current?.fences;
  }

  /** Every name, for locked() and force release (one command per name: they may span Cluster slots). */
  protected override holdKind(): HoldKind {
    return new MultiLockKind(this.names, this.mode, this.settings);
  }

  protected override holding(settings: LockSettings, observer: AcquisitionObserver): Holding {
    let subscription: Subscription | undefined;
    return {
      start: () => {
        subscription = lockAllWithSettings$({ names: this.names, lock: settings }).subscribe({
          next: (multi) => {
            this.current = multi;
            const first = multi.fences[this.names[0] as string] ?? 0;
            observer.next(new HeldLease(this.name, multi.prefix, multi.mode, '', first, multi.ttl, HeldMultiLease.holderOf(multi)));
          },
          error: (error: unknown) => observer.error(error),
        });
      },
      close: () => subscription?.unsubscribe(),
    };
  }
}
