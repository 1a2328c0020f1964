import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { lock$, LockError, RedisUnavailableError, query, type HoldInfo, type Lease, type LockOptions } from '../../src/index';
import { globMatcher, nameOfKey, scanPattern } from '../../src/admin/lock-names';
import { readLockHash } from '../../src/admin/hold-info';
import { readLock } from '../../src/admin/query';
import { lockKeys } from '../../src/redis/keys';
import { eventually } from '../faults/fault-kit';
import { getFreePort, startRedisServer, type RedisServerHandle } from '../support/redis-server';
import { subscribeLock, useTopology, within, sleep, type Holding } from '../topology/topology';

/**
 * query() on a redis-server of this file's own: every live hold under a
 * prefix, read with the server's clock, never a token.
 */
let server: RedisServerHandle;
let prefixes = 0;
const { holdings, clients } = useTopology(async () => (server = await startRedisServer()));
const prefix = (): string => `q${++prefixes}`;

function client(options: RedisOptions = {}): Redis {
  const c = new Redis(server.url, options);
  clients.push(c);
  return c;
}

function hold(name: string, opts: LockOptions): Holding {
  const h = subscribeLock(lock$(name, { redis: server.url, ...opts }));
  holdings.push(h);
  return h;
}

async function held(name: string, opts: LockOptions): Promise<Lease> {
  return within(hold(name, opts).acquired, 10_000, `'${name}' acquired`);
}

/** Neither the tokens of `leases` nor any 32-hex string appears in `text`. */
function expectNoToken(text: string, leases: readonly Lease[]): void {
  for (const lease of leases) expect(text).not.toContain(lease.token);
  expect(text).not.toMatch(/[0-9a-f]{32}/);
}

describe('query', () => {
  it('lists a writer, each reader, their fences, labels, since when and expiries, and no token', async () => {
    const p = prefix();
    const [seconds] = await client().time();
    const writer = await held('orders', { prefix: p, lease: 20_000 });
    const readers = [
      await held('report', { prefix: p, mode: 'read', label: 'nightly: report, part 1' }),
      await held('report', { prefix: p, mode: 'read', ttl: 60_000, label: 'ad hoc' }),
    ];

    const holds = await query({ redis: server.url, prefix: p });
    expect(holds.map((h) => [h.name, h.mode, h.fence])).toEqual([
      ['orders', 'write', writer.fence],
      ['report', 'read', readers[0]!.fence],
      ['report', 'read', readers[1]!.fence],
    ]);
    expect(holds.map((h) => h.label)).toEqual([`${hostname()}:${process.pid}`, 'nightly: report, part 1', 'ad hoc']);
    for (const h of holds) {
      expect(h).toMatchObject({ prefix: p, kind: 'lock', waiting: 0 });
      // By the server's clock, from when the hold was taken.
      expect(h.since).toBeGreaterThanOrEqual(Number(seconds) * 1000);
      expect(h.since).toBeLessThan(Number(seconds) * 1000 + 30_000);
    }
    expect(holds[0]!.expiresInMs).toBeGreaterThan(10_000);
    expect(holds[0]!.expiresInMs).toBeLessThanOrEqual(20_000);
    expect(holds[2]!.expiresInMs).toBeGreaterThan(30_000);
    expect(holds[2]!.expiresInMs).toBeLessThanOrEqual(60_000);
    expectNoToken(JSON.stringify(holds), [writer, ...readers]);
  });

  it('only lists its prefix, reads names back through the escapes, and skips fence counters and foreign keys', async () => {
    const p = prefix();
    const odd = ['a{b}', '100%', 'x:y', '%7B', 'sp ace', 'ünï', '}{'];
    for (const name of odd) await held(name, { prefix: p });
    await held('other', { prefix: `${p}-other` });
    await held('bare', {});
    const admin = client();
    await admin.set(lockKeys(p, 'not-a-hash', 0).state, 'x');
    await admin.set(`${p}:lock:{raw{brace}`, 'x');

    const holds = await query({ redis: server.url, prefix: p });
    expect(holds.map((h) => h.name).sort()).toEqual([...odd].sort());
    // Without a prefix: only locks made without one.
    expect((await query({ redis: server.url })).map((h) => h.name)).toEqual(['bare']);
  });

  it('filters names with a glob, also through escaped characters', async () => {
    const p = prefix();
    for (const name of ['job-1', 'job-2', 'job-10', 'jab-1', 'job{x}', '[job]']) await held(name, { prefix: p });
    const names = async (match: string): Promise<string[]> =>
      (await query({ redis: server.url, prefix: p, match })).map((h) => h.name).sort();
    expect(await names('job-*')).toEqual(['job-1', 'job-10', 'job-2']);
    expect(await names('job-?')).toEqual(['job-1', 'job-2']);
    expect(await names('j[ao]b-1')).toEqual(['jab-1', 'job-1']);
    expect(await names('j[^o]b-1')).toEqual(['jab-1']);
    expect(await names('job{*')).toEqual(['job{x}']);
    expect(await names('job?x?')).toEqual(['job{x}']);
    expect(await names('\\[job\\]')).toEqual(['[job]']);
    expect(await names('nothing*')).toEqual([]);
  });

  it('leaves out holds that expired by the server clock, and counts writers waiting for the readers', async () => {
    const p = prefix();
    const reader = await held('shared', { prefix: p, mode: 'read', lease: 30_000 });
    // A reader's field that outlived its hold (nothing prunes it while another reader keeps the hash).
    const admin = client();
    const [seconds] = await admin.time();
    const dead = `${Number(seconds) * 1000 - 5_000}:${reader.fence - 1}`;
    await admin.hset(lockKeys(p, 'shared', 0).state, `r:${'0f'.repeat(16)}`, dead);
    let holds = await query({ redis: server.url, prefix: p });
    expect(holds.map((h) => [h.mode, h.fence, h.waiting])).toEqual([['read', reader.fence, 0]]);

    const writer = hold('shared', { prefix: p, lease: 30_000 });
    await eventually(async () => (await query({ redis: server.url, prefix: p }))[0]?.waiting === 1, 5_000, 'the writer queued');
    holds = await query({ redis: server.url, prefix: p });
    expect(holds.map((h) => [h.mode, h.fence, h.waiting])).toEqual([['read', reader.fence, 1]]);

    writer.unsubscribe();
    await eventually(async () => (await query({ redis: server.url, prefix: p }))[0]?.waiting === 0, 5_000, 'the mark withdrawn');
  });

  it('counts the waiters in the fair line', async () => {
    const p = prefix();
    const holder = await held('line', { prefix: p });
    hold('line', { prefix: p, fair: true });
    hold('line', { prefix: p, fair: true, mode: 'read' });
    await eventually(async () => (await query({ redis: server.url, prefix: p }))[0]?.waiting === 2, 5_000, 'two tickets');
    expect((await query({ redis: server.url, prefix: p })).map((h) => [h.fence, h.waiting])).toEqual([[holder.fence, 2]]);
  });

  it('finds every lock among many keys, with SCAN over several pages', async () => {
    const p = prefix();
    const admin = client();
    const filler = admin.pipeline();
    for (let i = 0; i < 3_000; i++) filler.set(`${p}:filler:${i}`, '1');
    await filler.exec();
    const names = Array.from({ length: 40 }, (_, i) => `n-${i}`);
    await Promise.all(names.map((name) => held(name, { prefix: p })));
    const holds = await query({ redis: server.url, prefix: p });
    expect(holds.map((h) => h.name)).toEqual([...names].sort());
  });

  it('works through a client with a keyPrefix, an ioredis client passed in, and never closes it', async () => {
    const p = prefix();
    const prefixed = client({ keyPrefix: 'kp:' });
    const lease = await held('k', { prefix: p, redis: prefixed });
    expect((await query({ redis: prefixed, prefix: p })).map((h) => h.fence)).toEqual([lease.fence]);
    expect(await query({ redis: server.url, prefix: p })).toEqual([]);
    expect(prefixed.status).toBe('ready');
  });

  it('reads one lock in detail: holders, waiting, key ttl and listening processes', async () => {
    const p = prefix();
    const lease = await held('one', { prefix: p, lease: 10_000 });
    const waiter = hold('one', { prefix: p });
    await sleep(300);
    const details = await readLock({ redis: server.url, name: 'one', prefix: p });
    expect(details.holds.map((h) => h.fence)).toEqual([lease.fence]);
    expect(details.keyTtlMs).toBeGreaterThan(5_000);
    expect(details.listeners).toBe(1);
    waiter.unsubscribe();
    const free = await readLock({ redis: server.url, name: 'nobody', prefix: p });
    expect(free).toMatchObject({ holds: [], waiting: 0, keyTtlMs: -2 });
  });

  it('refuses bad options before any I/O, and reports an unreachable Redis as RedisUnavailableError', async () => {
    await expect(query({ redis: 'http://x' })).rejects.toThrow(TypeError);
    await expect(query({ redis: server.url, prefix: 5 } as never)).rejects.toThrow(TypeError);
    await expect(query({ redis: server.url, mtach: '*' } as never)).rejects.toThrow(/did you mean 'match'/);
    await expect(query({} as never)).rejects.toThrow(TypeError);
    const port = await getFreePort();
    const error = await query({ redis: `redis://127.0.0.1:${port}/0`, redisTimeout: 300 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(RedisUnavailableError);
    expect((error as Error).message).toContain(`127.0.0.1:${port}`);
  });

  it('wraps a refusal from Redis in a LockError with the cause', async () => {
    const restricted = await startRedisServer({ args: ['--rename-command', 'SCAN', ''] });
    try {
      const error = await query({ redis: restricted.url, redisTimeout: 2_000 }).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(LockError);
      expect((error as Error).message).toMatch(/refused SCAN/);
      expect((error as Error).cause).toBeInstanceOf(Error);
    } finally {
      await restricted.stop();
    }
  });
});

describe('lock names and the hash, without Redis', () => {
  it('reads back every name lockKeys lays out', () => {
    for (const name of ['a', 'a{b}', '%', '%25', '%7B', '}{', 'x:lock:{y}', ' ', 'ü']) {
      for (const p of ['', 'p', 'p{x}', 'a:b']) {
        expect(nameOfKey(lockKeys(p, name, 0).state, p)).toBe(name);
      }
    }
    expect(nameOfKey('lock:{a}:fence', '')).toBeUndefined();
    expect(nameOfKey('lock:{a{b}', '')).toBeUndefined();
    expect(nameOfKey('lock:{a%2}', '')).toBeUndefined();
    expect(nameOfKey('lock:{}', '')).toBeUndefined();
    expect(nameOfKey('p:lock:{a}', '')).toBeUndefined();
  });

  it('builds SCAN patterns that cannot match another prefix or a fence counter', () => {
    expect(scanPattern('', '', undefined)).toBe('lock:{*}');
    expect(scanPattern('kp:', 'a*b', 'job-*')).toBe('kp:a\\*b:lock:{job-*}');
    expect(scanPattern('', 'p', 'a{b}*')).toBe('p:lock:{a%7Bb%7D*}');
    expect(scanPattern('', 'p', 'job-?')).toBe('p:lock:{*}');
  });

  it('matches globs the way Redis does', () => {
    const cases: [string, string, boolean][] = [
      ['*', '', true],
      ['a*c', 'abbc', true],
      ['a?c', 'abc', true],
      ['a?c', 'ac', false],
      ['?', 'ü', true],
      ['[a-c]x', 'bx', true],
      ['[c-a]x', 'bx', true],
      ['[^a-c]x', 'bx', false],
      ['[!]', '!', true],
      ['a\\*', 'a*', true],
      ['a\\*', 'ab', false],
      ['a.b', 'axb', false],
      ['(x)', '(x)', true],
      ['[-]', '-', true],
      ['a[', 'a[', false],
      ['line*', 'line\nbreak', true],
    ];
    for (const [glob, name, expected] of cases) expect(globMatcher(glob)(name), `${glob} ~ ${JSON.stringify(name)}`).toBe(expected);
  });

  it('reads the hash in one place: labels beside holds, dead holds out, unknown fields ignored, tokens never out', () => {
    const [a, b, c, d, e, f] = ['ab', 'cd', 'ef', '01', '23', '45'].map((pair) => pair.repeat(16)) as string[];
    const reading = readLockHash(
      'n',
      'p',
      {
        w: a!,
        wf: '7',
        wx: '2000',
        wl: '900:host:12: with colons',
        [`r:${b}`]: '500:3',
        [`l:${b}`]: '500:400:dead reader',
        [`q:${c}`]: '3000',
        [`q:${d}`]: '900',
        [`t:${e}`]: '3000:4:r:2000:a ticket',
        [`t:${c}`]: '3000:5:w:2000:',
        [`g:${f}`]: '3000',
        zz: 'a newer version',
      },
      1_000,
    );
    // The mark of c and its ticket are one waiter; d's mark has expired.
    expect(reading.waiting).toBe(2);
    expect(reading.holds).toEqual<HoldInfo[]>([
      { name: 'n', prefix: 'p', kind: 'lock', mode: 'write', fence: 7, label: 'host:12: with colons', since: 900, expiresInMs: 1_000, waiting: 2 },
    ]);
    const readers = readLockHash('n', '', { [`r:${b}`]: '5000:3', [`l:${b}`]: '5000:800:reader', [`r:${c}`]: '6000:9' }, 1_000);
    expect(readers.holds).toEqual<HoldInfo[]>([
      { name: 'n', prefix: '', kind: 'lock', mode: 'read', fence: 3, label: 'reader', since: 800, expiresInMs: 4_000, waiting: 0 },
      { name: 'n', prefix: '', kind: 'lock', mode: 'read', fence: 9, expiresInMs: 5_000, waiting: 0 },
    ]);
    expect(JSON.stringify([reading, readers])).not.toMatch(/[0-9a-f]{32}/);
  });
});
