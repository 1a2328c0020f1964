/**
 * Bad input to the facade fails at once with TypeError or RangeError (the
 * constructor throws, the methods reject) and sends Redis nothing. "Nothing"
 * is checked on a private server: after each bad call yadl holds no
 * connection, the server received no new connection and ran no script.
 */
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { RedisLock, RedisRLock } from '../../src/index';
import { commandCalls, newCalls, useFacadeFixture, type FacadeLockClass } from './facade-fixture';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';

const fx = useFacadeFixture();

let server: RedisServerHandle;
let observer: Redis;

beforeAll(async () => {
  server = await startRedisServer();
  observer = new Redis(server.url);
});

afterAll(async () => {
  await observer?.quit();
  await server?.stop();
});

type ErrorClass = typeof TypeError | typeof RangeError;

async function connectionsReceived(): Promise<number> {
  const stats = await observer.info('stats');
  return Number(/^total_connections_received:(\d+)/m.exec(stats)?.[1]);
}

const NO_ERROR = new Error('no error');

/**
 * Runs `call`, which must throw (the constructor) or return a promise that
 * rejects (the methods) with one of `expected` within 500 ms, and shows that
 * nothing reached Redis.
 */
async function expectRefusedLocally(
  how: 'throws' | 'rejects',
  call: () => unknown,
  expected: ErrorClass[],
  message?: RegExp,
): Promise<void> {
  const connections = await connectionsReceived();
  const commands = await commandCalls(observer);
  const started = performance.now();
  let error: unknown = NO_ERROR;
  if (how === 'throws') {
    try {
      call();
    } catch (e) {
      error = e;
    }
  } else {
    let promise: unknown;
    expect(() => (promise = call())).not.toThrow();
    error = await (promise as Promise<unknown>).then(
      () => NO_ERROR,
      (e: unknown) => e,
    );
  }
  expect(performance.now() - started).toBeLessThan(500);
  expect(expected.some((type) => error instanceof type), `${String(error)} should be a ${expected.map((t) => t.name).join(' or ')}`).toBe(true);
  if (message !== undefined) expect((error as Error).message).toMatch(message);
  expect(diagnostics).toEqual({ connectionUsers: 0, ownedClients: 0, channels: 0, waitQueues: 0 });
  expect(await connectionsReceived()).toBe(connections);
  expect(newCalls(commands, await commandCalls(observer))).toEqual({});
}

/** [what, argument, error classes accepted, message] */
type BadCase = [string, unknown, ErrorClass[], RegExp?];

const badAcquireOptions: BadCase[] = [
  ['blocking: false with a timeout', { blocking: false, timeout: 5 }, [RangeError], /timeout for a non-blocking call/],
  ['timeout -2', { timeout: -2 }, [RangeError]],
  ['timeout NaN', { timeout: NaN }, [RangeError]],
  ['timeout Infinity', { timeout: Infinity }, [RangeError]],
  ["timeout '5'", { timeout: '5' }, [TypeError]],
  ['timeout 1.5', { timeout: 1.5 }, [RangeError]],
  ['timeout beyond setTimeout', { timeout: 2 ** 31 }, [RangeError]],
  ['a misspelt timeout', { timout: 5 }, [TypeError], /timeout/],
  ["blocking 'no'", { blocking: 'no' }, [TypeError]],
  ['a signal that is not an AbortSignal', { signal: { aborted: false } }, [TypeError]],
  ['true instead of options', true, [TypeError], /acquire\(\{ blocking: true \}\)/],
  ['null', null, [TypeError]],
];

const badReleaseOptions: BadCase[] = [
  ["force 'yes'", { force: 'yes' }, [TypeError]],
  ['a misspelt force', { forse: true }, [TypeError], /force/],
  ['true instead of options', true, [TypeError]],
];

const badConstructorArguments: [string, unknown, unknown, ErrorClass[], RegExp?][] = [
  ['an empty name', '', undefined, [RangeError]],
  ['a number as name', 42, undefined, [TypeError]],
  ['no name', undefined, undefined, [TypeError]],
  ['a name over 1024 characters', 'n'.repeat(1025), undefined, [RangeError], /1024/],
  ['ttl 1.5', 'x', { ttl: 1.5 }, [RangeError]],
  ["ttl '60'", 'x', { ttl: '60' }, [TypeError]],
  ['ttl NaN', 'x', { ttl: NaN }, [RangeError]],
  ['lease under 30 ms', 'x', { lease: 10 }, [RangeError]],
  ["lease 'long'", 'x', { lease: 'long' }, [TypeError]],
  ['a number as prefix', 'x', { prefix: 5 }, [TypeError]],
  ['a prefix over 256 characters', 'x', { prefix: 'p'.repeat(257) }, [RangeError]],
  ['redis and host together', 'x', { redis: 'redis://127.0.0.1:6390/0', host: '127.0.0.1' }, [TypeError], /not both/],
  ['port 0', 'x', { port: 0 }, [RangeError]],
  ['port 65536', 'x', { port: 65536 }, [RangeError]],
  ["port '6379'", 'x', { port: '6379' }, [TypeError, RangeError]],
  ['db -1', 'x', { db: -1 }, [RangeError]],
  ["an empty host", 'x', { host: '' }, [TypeError]],
  ['a number as password', 'x', { password: 123 }, [TypeError]],
  ['an http URL as redis', 'x', { redis: 'http://127.0.0.1:6390' }, [TypeError]],
  ['an object that is not a client as redis', 'x', { redis: {} }, [TypeError]],
  ['an unknown option', 'x', { redis_host: '127.0.0.1' }, [TypeError], /unknown option 'redis_host'/],
  ['a misspelt ttl', 'x', { tll: 5 }, [TypeError], /ttl/],
  ['a string as options', 'x', 'redis://127.0.0.1:6390/0', [TypeError]],
];

describe.each<[string, FacadeLockClass]>([
  ['RedisLock', RedisLock],
  ['RedisRLock', RedisRLock],
])('%s bad input', (_, Lock) => {
  const onPrivateServer = (): InstanceType<FacadeLockClass> => new Lock('bad-input', { redis: server.url });

  it.each(badAcquireOptions)('acquire(%s) rejects before any I/O', async (_what, options, expected, message) => {
    const lock = onPrivateServer();
    await expectRefusedLocally('rejects', () => lock.acquire(options as never), expected, message);
  });

  it.each(badReleaseOptions)('release(%s) rejects before any I/O', async (_what, options, expected, message) => {
    const lock = onPrivateServer();
    await expectRefusedLocally('rejects', () => lock.release(options as never), expected, message);
  });

  it.each(badConstructorArguments)('the constructor throws for %s', async (_what, name, options, expected, message) => {
    await expectRefusedLocally('throws', () => new Lock(name as never, options as never), expected, message);
  });

  it('a 1024-character name and the boundary values are accepted', () => {
    const lock = new Lock('n'.repeat(1024), { prefix: 'p'.repeat(256), ttl: -1, lease: 30, port: 65535, db: 0 });
    expect(lock.name).toHaveLength(1024);
    expect(diagnostics.ownedClients).toBe(0);
  });

  it('bad options given to the holder leave its hold as it was', async () => {
    const holder = fx.lock(Lock);
    const other = fx.lock(RedisLock);
    await holder.acquire();
    const fence = holder.fence;
    await expect(holder.acquire({ timeout: -2 })).rejects.toThrow(RangeError);
    await expect(holder.acquire({ blocking: false, timeout: 5 })).rejects.toThrow(RangeError);
    await expect(holder.release({ force: 'yes' } as never)).rejects.toThrow(TypeError);
    expect([holder.fence, holder.signal?.aborted]).toEqual([fence, false]);
    expect(await other.acquire({ blocking: false })).toBe(false);
    await holder.release();
    expect(await other.acquire({ blocking: false })).toBe(true);
    await other.release();
  });
});
