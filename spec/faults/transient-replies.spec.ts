/**
 * Redis answers an acquire with an error that is not a verdict on the lock
 * but a passing state of the server: BUSY here (a script running past
 * busy-reply-threshold; likewise LOADING, READONLY, MASTERDOWN, CLUSTERDOWN,
 * TRYAGAIN, OOM). The acquisition retries while redisTimeout allows, and
 * otherwise fails with RedisUnavailableError naming the reply; a raw ioredis
 * ReplyError never reaches the caller. Regression specs of the review's
 * defect 9.6 (acquire part); the renewal part is spec/core/hold-keeper.spec.ts.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { LockError, RedisLock, RedisUnavailableError, lock$ } from '../../src/index';
import { BUSY_SERVER_ARGS, busyFor, sleep, useFaultKit, within } from './fault-kit';

const kit = useFaultKit();
const BUSY = 1_500;
/** Past busy-reply-threshold (100 ms): Redis now answers BUSY at once. */
const INTO_BUSY = 200;
const SLACK = 1_500;

/** A client already connected (its ready check would meet BUSY too), and Redis busy for BUSY ms from now. */
async function busyServer(): Promise<{ client: Redis; busy: Promise<number>; busyFrom: number }> {
  const server = await kit.server({ args: BUSY_SERVER_ARGS });
  const client = kit.client(server.url);
  await client.ping();
  const busyFrom = performance.now();
  const busy = busyFor(kit.admin(server.url), BUSY).then(() => performance.now());
  await sleep(INTO_BUSY);
  return { client, busy, busyFrom };
}

function describeError(error: unknown): string {
  return error instanceof Error ? `${error.constructor.name}: ${error.message}` : String(error);
}

describe('an acquire answered BUSY', () => {
  it('regression 9.6: waits and acquires once BUSY ends when redisTimeout allows (lock$ and the facade)', async () => {
    const { client, busy, busyFrom } = await busyServer();
    const holding = kit.hold(lock$('busy-acquire', { redis: client, prefix: 'tr', redisTimeout: 5_000 }));
    const facade = new RedisLock('busy-facade', { redis: client, prefix: 'tr', redisTimeout: 5_000 });
    const facadeAcquired = facade.acquire().then(
      () => ({ at: performance.now() }),
      (error: unknown) => ({ error, at: performance.now() }),
    );
    const lease = await within(holding.acquired, 5_000, 'lock$ acquiring').catch((error: unknown) => error);
    const facadeOutcome = await within(facadeAcquired, 5_000, 'the facade acquiring');
    const busyUntil = await busy;
    console.log(
      `[9.6 acquire] BUSY for ${(busyUntil - busyFrom).toFixed(0)} ms: lock$ ${
        holding.leases.length > 0 ? `acquired at ${(holding.leases[0]!.at - busyFrom).toFixed(0)} ms` : describeError(lease)
      }; facade ${'error' in facadeOutcome ? describeError(facadeOutcome.error) : `acquired at ${(facadeOutcome.at - busyFrom).toFixed(0)} ms`}`,
    );
    expect(holding.leases, `lock$ ended with ${describeError(lease)}`).toHaveLength(1);
    // Redis ran the script from after busyFrom for BUSY ms by its clock: no acquisition can come earlier.
    expect(holding.leases[0]!.at - busyFrom).toBeGreaterThanOrEqual(BUSY - 5);
    expect('error' in facadeOutcome ? describeError(facadeOutcome.error) : 'acquired').toBe('acquired');
    expect(facade.fence).toBeGreaterThan(0);
    await facade.release();
    holding.unsubscribe();
  });

  it('regression 9.6: with a redisTimeout shorter than BUSY, fails with RedisUnavailableError naming BUSY (lock$ and the facade)', async () => {
    const REDIS_TIMEOUT = 500;
    const { client, busy } = await busyServer();
    const started = performance.now();
    const holding = kit.hold(lock$('busy-short', { redis: client, prefix: 'tr', redisTimeout: REDIS_TIMEOUT }));
    const facade = new RedisLock('busy-short-facade', { redis: client, prefix: 'tr', redisTimeout: REDIS_TIMEOUT });
    const facadeError = facade.acquire().then(
      (ok) => new Error(`resolved ${String(ok)}`),
      (error: unknown) => error,
    );
    const ending = await within(holding.ended, 5_000, 'lock$ failing');
    const error = (ending as { error?: unknown }).error;
    const took = ending.at - started;
    const fromFacade = await within(facadeError, 5_000, 'the facade failing');
    await busy;
    console.log(`[9.6 acquire, redisTimeout ${REDIS_TIMEOUT}] lock$ after ${took.toFixed(0)} ms: ${describeError(error)}; facade: ${describeError(fromFacade)}`);
    expect(describeError(error)).toMatch(/^RedisUnavailableError: .*BUSY/);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect(took).toBeLessThan(REDIS_TIMEOUT + SLACK);
    expect(describeError(fromFacade)).toMatch(/^RedisUnavailableError: .*BUSY/);
    expect(fromFacade).toBeInstanceOf(LockError);
  });
});

describe('an acquire answered READONLY (a replica)', () => {
  it('regression 9.6: fails with RedisUnavailableError naming READONLY within redisTimeout, never a raw ReplyError', async () => {
    const REDIS_TIMEOUT = 500;
    const primary = await kit.server();
    const replica = await kit.server({ args: ['--replicaof', primary.host, String(primary.port)] });
    const client = kit.client(replica.url);
    await client.ping();
    const started = performance.now();
    const holding = kit.hold(lock$('read-only', { redis: client, prefix: 'tr', redisTimeout: REDIS_TIMEOUT }));
    const facadeError = new RedisLock('read-only', { redis: client, prefix: 'tr', redisTimeout: REDIS_TIMEOUT }).acquire().then(
      (ok) => new Error(`resolved ${String(ok)}`),
      (error: unknown) => error,
    );
    const ending = await within(holding.ended, 5_000, 'lock$ failing');
    const error = (ending as { error?: unknown }).error;
    const fromFacade = await within(facadeError, 5_000, 'the facade failing');
    console.log(`[9.6 READONLY] lock$ after ${(ending.at - started).toFixed(0)} ms: ${describeError(error)}; facade: ${describeError(fromFacade)}`);
    expect(describeError(error)).toMatch(/^RedisUnavailableError: .*READONLY/);
    expect(ending.at - started).toBeLessThan(REDIS_TIMEOUT + SLACK);
    expect(describeError(fromFacade)).toMatch(/^RedisUnavailableError: .*READONLY/);
  });
});
