import type { HoldMode } from '../core/options';
import { FacadeLock } from './facade-lock';

/**
 * A shared lock: any number of readers hold a name at once, while no writer
 * (`RedisWriteLock`, `RedisLock`, `RedisRLock`) does. Once a writer waits,
 * new readers queue behind it. Each reader's hold has its own lease; a
 * reader releases only its own hold, even with `force`.
 */
export class RedisReadLock extends FacadeLock {
  protected readonly reentrant = false;
  protected override readonly mode: HoldMode = 'read';
}
