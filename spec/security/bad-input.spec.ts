/**
 * Bad input to lock$ (every mode, with and without a prefix) throws TypeError
 * or RangeError at once and sends Redis nothing: on a private server no
 * connection arrives and no script runs (INFO stats / commandstats). Valid
 * names and prefixes with awkward characters work and never collide, and
 * braces keep one lock in one cluster slot. A foreign value at a lock's keys
 * (another program's) gives a LockError saying yadl did not write it, and is
 * left exactly as it was.
 */
import calculateSlot from 'cluster-key-slot';
import type { Redis } from 'ioredis';
import { beforeEach, describe, expect, it } from 'vitest';
import { LockError, LockTimeoutError, RedisLock, lock$, type LockMode, type LockOptions } from '../../src/index';
import { commandCalls, eventually, stateKey, useFaultKit, within } from '../faults/fault-kit';
import type { RedisServerHandle } from '../support/redis-server';

const kit = useFaultKit();
let server: RedisServerHandle;
let admin: Redis;

beforeEach(async () => {
  server = await kit.server();
  admin = kit.admin(server.url);
});

const MODES: (LockMode | undefined)[] = [undefined, 'exclusive', 'write', 'read'];
const SCRIPT_COMMANDS = ['eval', 'evalsha', 'subscribe', 'config|get', 'config|set'];

async function connectionsReceived(): Promise<number> {
  return Number(/^total_connections_received:(\d+)/m.exec(await admin.info('stats'))?.[1]);
}

/** lock$(name, options) must throw `expected` synchronously, in every mode, with nothing sent to Redis. */
async function expectRefused(name: unknown, options: Record<string, unknown>, expected: typeof TypeError | typeof RangeError, message?: RegExp): Promise<void> {
  const connections = await connectionsReceived();
  const calls = await commandCalls(admin);
  for (const mode of MODES) {
    for (const prefix of [undefined, 'bad']) {
      const all = { redis: server.url, ...(prefix === undefined ? {} : { prefix }), ...(mode === undefined ? {} : { mode }), ...options };
      let thrown: unknown;
      try {
        lock$(name as string, all as LockOptions);
      } catch (error) {
        thrown = error;
      }
      expect(thrown, `lock$(${show(name)}, ${show(all)})`).toBeInstanceOf(expected);
      if (message) expect((thrown as Error).message).toMatch(message);
    }
  }
  await new Promise((resolve) => setTimeout(resolve, 20));
  expect(await connectionsReceived(), 'connections made').toBe(connections);
  const after = await commandCalls(admin);
  for (const command of SCRIPT_COMMANDS) expect(after[command] ?? 0, `${command} calls`).toBe(calls[command] ?? 0);
}

/** For failure messages. */
function show(value: unknown): string {
  if (typeof value === 'string') return JSON.stringify(value.length > 20 ? `${value.slice(0, 20)}…` : value);
  if (typeof value !== 'object' || value === null) return String(value);
  return JSON.stringify(value, (_k, v: unknown) => (typeof v === 'string' ? show(v).slice(1, -1) : typeof v === 'bigint' || (typeof v === 'number' && !Number.isFinite(v)) ? String(v) : v));
}

describe('bad input to lock$ fails at once and sends Redis nothing', () => {
  it('names: empty, not a string, longer than 1024', async () => {
    await expectRefused('', {}, RangeError, /must not be empty/);
    for (const name of [undefined, null, 1, true, {}, [], Symbol('x')]) await expectRefused(name, {}, TypeError, /must be a string/);
    await expectRefused('n'.repeat(1025), {}, RangeError, /1025 characters long; the maximum is 1024/);
  });

  it('prefixes: not a string, longer than 256', async () => {
    for (const prefix of [null, 1, {}, []]) await expectRefused('x', { prefix }, TypeError, /prefix must be a string/);
    await expectRefused('x', { prefix: 'p'.repeat(257) }, RangeError, /maximum is 256/);
  });

  it('ttl, lease, timeout, redisTimeout: NaN, Infinity, negative, fractional, strings, too large', async () => {
    for (const option of ['ttl', 'lease', 'timeout', 'redisTimeout']) {
      for (const value of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 1.5, 2 ** 31]) {
        await expectRefused('x', { [option]: value }, RangeError, new RegExp(option));
      }
      for (const value of ['100', null, {}, true, 10n]) await expectRefused('x', { [option]: value }, TypeError, new RegExp(option));
    }
    for (const [option, value] of [['lease', -1], ['lease', 0], ['lease', 29], ['timeout', -2], ['redisTimeout', 0], ['redisTimeout', -1]] as const) {
      await expectRefused('x', { [option]: value }, RangeError, new RegExp(option));
    }
  });

  it("modes, unknown options, options that are not an object, signal and redis of the wrong kind", async () => {
    for (const mode of ['reed', 'READ', '', 'shared', 1, null]) await expectRefused('x', { mode }, TypeError, /mode must be 'exclusive', 'write' or 'read'/);
    await expectRefused('x', { timout: 5 }, TypeError, /unknown option 'timout'.*did you mean 'timeout'/);
    await expectRefused('x', { Mode: 'read' }, TypeError, /unknown option 'Mode'/);
    await expectRefused('x', { ttl: 100, retries: 3 }, TypeError, /unknown option 'retries'/);
    await expectRefused('x', { signal: {} }, TypeError, /signal must be an AbortSignal/);
    await expectRefused('x', { redis: 'http://127.0.0.1:6379' }, TypeError, /redis/);
    for (const options of ['opts', 5, [], null]) {
      expect(() => lock$('x', options as LockOptions)).toThrow(TypeError);
    }
    // @ts-expect-error a typo in an option name is a compile-time error too
    expect(() => lock$('x', { redis: server.url, timout: 5 })).toThrow(TypeError);
    // @ts-expect-error so is a mode that does not exist
    expect(() => lock$('x', { redis: server.url, mode: 'reed' })).toThrow(TypeError);
  });

  it('accepts the boundary values: ttl <= 0 (held until release), timeout -1 and 0, lease 30, names of 1024, prefixes of 256', async () => {
    const accepted = [{ ttl: 0 }, { ttl: -5 }, { timeout: -1 }, { timeout: 0 }, { lease: 30 }, { redisTimeout: 1 }, { prefix: '' }, { prefix: 'p'.repeat(256) }];
    for (const options of accepted) expect(() => lock$('x', { redis: server.url, ...options })).not.toThrow();
    expect(() => lock$('n'.repeat(1024), { redis: server.url })).not.toThrow();
  });
});

const AWKWARD = ['{', '}', '{}', '}{', 'a{b}c', '%7B', '%', '%25', ':', 'a:b', ' ', 'a b', '\n', 'a\r\nb', '\0', 'a\0b', 'ü', '锁', '🔒', '\t', '*', '?', '[a]', '\\', 'n'.repeat(1024)];

describe('awkward names and prefixes work and never collide', () => {
  it('every awkward name is its own lock (held at once), in write and read mode, with and without a prefix', async () => {
    const client = kit.client(server.url);
    let keysNow: string[] = [];
    for (const prefix of ['', 'x', '{p}', 'a:b']) {
      keysNow = await admin.keys('*');
      const writers = AWKWARD.map((name) => kit.hold(lock$(name, { redis: client, prefix, timeout: 0 })));
      await within(Promise.all(writers.map((w) => w.acquired)), 5_000, `all ${AWKWARD.length} names with prefix '${prefix}'`).catch((e: unknown) => {
        throw new Error(`prefix ${JSON.stringify(prefix)}: ${String(e)}; keys ${JSON.stringify(keysNow)}`);
      });
      // A second writer of each is refused, so each name really is held.
      const second = kit.hold(lock$(AWKWARD[4]!, { redis: client, prefix, timeout: 0 }));
      expect((await within(second.ended, 2_000, 'refused')).kind).toBe('error');
      for (const w of writers) w.unsubscribe();
      await eventually(async () => (await admin.keys('*')).every((k) => k.endsWith(':fence')), 3_000, 'the writers released');
      const readers = AWKWARD.flatMap((name) => [1, 2].map(() => kit.hold(lock$(name, { redis: client, prefix, mode: 'read', timeout: 0 }))));
      await within(Promise.all(readers.map((r) => r.acquired)), 5_000, 'two readers of each name');
      const writer = kit.hold(lock$(AWKWARD[0]!, { redis: client, prefix, timeout: 0 }));
      const refused = await within(writer.ended, 2_000, 'a writer refused while readers hold');
      expect((refused as { error?: unknown }).error).toBeInstanceOf(LockTimeoutError);
      for (const r of readers) r.unsubscribe();
      await eventually(async () => (await admin.keys('*')).every((k) => k.endsWith(':fence')), 3_000, 'the readers released');
    }
  });

  it('prefix and name never run into each other: x + a:b is not x:a + b, braces included', async () => {
    const client = kit.client(server.url);
    const pairs: [string, string][] = [['x', 'a:b'], ['x:a', 'b'], ['x', 'lock:{a}'], ['x:lock:{a}', 'b'], ['', 'x:lock:{a:b}'], ['x{', 'a'], ['x', '{a'], ['x%7B', 'a'], ['x', '%7Ba'], ['', 'x'], ['x', '']];
    const holders = pairs.filter(([, name]) => name !== '').map(([prefix, name]) => kit.hold(lock$(name, { redis: client, prefix, timeout: 0 })));
    await within(Promise.all(holders.map((h) => h.acquired)), 5_000, 'every pair held at once');
    const keys = await admin.keys('*');
    const states = keys.filter((k) => !k.endsWith(':fence'));
    expect(states).toHaveLength(holders.length);
    // One lock, one slot: the state and the fence counter share the hash tag, the (escaped) name.
    for (const state of states) {
      expect(calculateSlot(`${state}:fence`)).toBe(calculateSlot(state));
      expect(state.indexOf('{')).toBe(state.lastIndexOf('{'));
    }
    expect(calculateSlot(stateKey('p1', 'a{b}'))).toBe(calculateSlot(stateKey('p2', 'a{b}')));
    for (const h of holders) h.unsubscribe();
  });
});

describe('a foreign value at a lock key', () => {
  const foreign: [string, (key: string) => Promise<unknown>, (key: string) => Promise<unknown>][] = [
    ['a string at the state key', (k) => admin.set(k, 'hello'), (k) => admin.get(k)],
    ['a set at the state key', (k) => admin.sadd(k, 'm'), (k) => admin.smembers(k)],
    ['a hash with foreign fields', (k) => admin.hset(k, 'foo', 'bar'), (k) => admin.hgetall(k)],
    ['a hash with a writer but no valid expiry', (k) => admin.hset(k, 'w', 'someone', 'wf', '1', 'wx', 'soon'), (k) => admin.hgetall(k)],
    ['a hash with a malformed reader', (k) => admin.hset(k, 'r:abc', 'not-a-number'), (k) => admin.hgetall(k)],
    ['a non-numeric string at the fence key', (k) => admin.set(`${k}:fence`, 'abc'), (k) => admin.get(`${k}:fence`)],
    ['a list at the fence key', (k) => admin.rpush(`${k}:fence`, '1'), (k) => admin.lrange(`${k}:fence`, 0, -1)],
  ];

  it.each(foreign)('%s: a LockError (not written by yadl) in every mode, and the value untouched', async (_what, write, read) => {
    const key = stateKey('fx', 'victim');
    await write(key);
    const before = JSON.stringify([await read(key), await admin.pttl(key), await admin.pttl(`${key}:fence`)]);
    for (const mode of ['exclusive', 'read'] as const) {
      for (const timeout of [0, -1]) {
        const holding = kit.hold(lock$('victim', { redis: server.url, prefix: 'fx', mode, timeout }));
        const ending = await within(holding.ended, 3_000, `${mode}, timeout ${timeout}`);
        const error = (ending as { error?: unknown }).error;
        expect(error).toBeInstanceOf(LockError);
        expect((error as Error).message).toMatch(/not written by yadl|yadl did not write/);
      }
    }
    const facade = new RedisLock('victim', { redis: server.url, prefix: 'fx' });
    await expect(facade.acquire({ blocking: false })).rejects.toThrow(/not written by yadl|yadl did not write/);
    // release() and locked() read only the state: with a foreign state they refuse too; a foreign fence does not concern them.
    const stateIsForeign = (await admin.exists(key)) === 1;
    await expect(facade.release()).rejects.toBeInstanceOf(LockError);
    if (stateIsForeign) await expect(facade.locked()).rejects.toThrow(/not written by yadl|yadl did not write/);
    else expect(await facade.locked()).toBe(false);
    expect(JSON.stringify([await read(key), await admin.pttl(key), await admin.pttl(`${key}:fence`)])).toBe(before);
  });

  it('a held lock whose key another program overwrites: the holder is told within its lease; the value stays', async () => {
    const holding = kit.hold(lock$('taken', { redis: server.url, prefix: 'fx', lease: 600 }));
    await within(holding.acquired, 3_000, 'the holder');
    await admin.set(stateKey('fx', 'taken'), 'mine now');
    const ending = await within(holding.ended, 2_000, 'the holder being told');
    expect((ending as { error?: unknown }).error).toBeInstanceOf(LockError);
    await new Promise((resolve) => setTimeout(resolve, 100)); // its release (refused) has run
    expect(await admin.get(stateKey('fx', 'taken'))).toBe('mine now');
  });
});
