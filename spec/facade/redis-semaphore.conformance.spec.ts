/**
 * RedisSemaphore with `limit: 1` through the lock conformance suite
 * (spec/facade/conformance/): a semaphore of one permit is a lock.
 *
 * The suite frees a lock from elsewhere with `release({ force: true })`; a
 * semaphore has no force release (a permit comes back only from its holder
 * or by expiry), so the adapter below stands for what an operator can still
 * do: it gives back its own permits, then deletes the semaphore's state key
 * (as `DEL` by hand would) and wakes its waiters. Holders learn at their next
 * renewal that their grant is gone, as they do for a lock.
 */
import { Redis } from 'ioredis';
import { RedisSemaphore, type RedisLockOptions } from '../../src/index';
import { semaphoreKeys } from '../../src/redis/keys';
import { conformance, localSite, lockFactory } from './conformance';
import { useFacadeFixture } from './facade-fixture';

class SemaphoreOfOne extends RedisSemaphore {
  readonly #options: RedisLockOptions;

  constructor(name: string, options?: RedisLockOptions) {
    super(name, { ...options, limit: 1 });
    this.#options = options ?? {};
  }

  override async release(options?: { force?: boolean; permits?: number }): Promise<void> {
    if (options?.force !== true) return super.release(options);
    if (this.held > 0) await super.release({ permits: this.held });
    const { redis, prefix = '' } = this.#options;
    const own = typeof redis === 'object' && redis instanceof Redis;
    const client = own
      ? redis
      : typeof redis === 'string'
        ? new Redis(redis)
        : new Redis({ host: this.#options.host, port: this.#options.port });
    try {
      const keys = semaphoreKeys(prefix, this.name, 0);
      await client.del(keys.state);
      await client.publish(keys.channel, 'release');
    } finally {
      if (!own) await client.quit();
    }
  }
}

/** The suite's "other class": another semaphore of one permit, of the same name. */
class OtherSemaphoreOfOne extends SemaphoreOfOne {}

const fx = useFacadeFixture();

conformance(
  lockFactory(localSite(fx), { Lock: SemaphoreOfOne, Other: OtherSemaphoreOfOne, sharing: 'exclusive', reentrant: false }),
);
