import { hostname } from 'node:os';
import { Redis, type RedisOptions } from 'ioredis';
import { describe, expect, it } from 'vitest';
import type { Observable } from 'rxjs';
import {
  elect$,
  lock$,
  LockError,
  RedisUnavailableError,
  query,
  semaphore$,
  type ElectionInfo,
  type HoldInfo,
  type Lease,
  type LockHoldInfo,
  type LockOptions,
  type SemaphoreInfo,
  type SemaphoreLease,
  type Term,
} from '../../src/index';
import { globMatcher, holdOfKey, nameOfKey, scanPattern } from '../../src/admin/lock-names';
import { readLockHash } from '../../src/admin/hold-info';
import { readElectionHash } from '../../src/admin/election-hash';
import { readSemaphoreHash } from '../../src/admin/semaphore-hash';
import { readElection, readLock, readSemaphore } from '../../src/admin/query';
import { lockKeys, semaphoreKeys } from '../../src/redis/keys';
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

/** A semaphore$ or elect$ subscription, unsubscribed after the test as lock holdings are. */
function track<L>(holds: Observable<L>): Holding<L> {
  const h = subscribeLock(holds);
  holdings.push(h as unknown as Holding);
  return h;
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

    const holds = await query({ redis: server.url, prefix: p, kind: 'lock' });
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
    let holds = await query({ redis: server.url, prefix: p, kind: 'lock' });
    expect(holds.map((h) => [h.mode, h.fence, h.waiting])).toEqual([['read', reader.fence, 0]]);

    const writer = hold('shared', { prefix: p, lease: 30_000 });
    await eventually(async () => (await query({ redis: server.url, prefix: p, kind: 'lock' }))[0]?.waiting === 1, 5_000, 'the writer queued');
    holds = await query({ redis: server.url, prefix: p, kind: 'lock' });
    expect(holds.map((h) => [h.mode, h.fence, h.waiting])).toEqual([['read', reader.fence, 1]]);

    writer.unsubscribe();
    await eventually(async () => (await query({ redis: server.url, prefix: p, kind: 'lock' }))[0]?.waiting === 0, 5_000, 'the mark withdrawn');
  });

  it('counts the waiters in the fair line', async () => {
    const p = prefix();
    const holder = await held('line', { prefix: p });
    hold('line', { prefix: p, fair: true });
    hold('line', { prefix: p, fair: true, mode: 'read' });
    await eventually(async () => (await query({ redis: server.url, prefix: p, kind: 'lock' }))[0]?.waiting === 2, 5_000, 'two tickets');
    expect((await query({ redis: server.url, prefix: p, kind: 'lock' })).map((h) => [h.fence, h.waiting])).toEqual([[holder.fence, 2]]);
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
    expect((await query({ redis: prefixed, prefix: p, kind: 'lock' })).map((h) => h.fence)).toEqual([lease.fence]);
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
    await expect(query({ redis: server.url, kind: 'semaphores' } as never)).rejects.toThrow(/kind must be 'lock', 'semaphore' or 'election', got the string 'semaphores'/);
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
    for (const p of ['', 'p', 'a:b']) {
      expect(holdOfKey(semaphoreKeys(p, 'a{b}', 0).state, p, ['lock', 'semaphore', 'election'])).toEqual({ kind: 'semaphore', name: 'a{b}' });
      expect(holdOfKey(lockKeys(p, 'x:y', 0, '', 'election').state, p, ['lock', 'semaphore', 'election'])).toEqual({ kind: 'election', name: 'x:y' });
      expect(holdOfKey(lockKeys(p, 'x', 0).state, p, ['semaphore', 'election'])).toBeUndefined();
    }
    expect(holdOfKey('election:{a}:fence', '', ['election'])).toBeUndefined();
    expect(holdOfKey('p:semaphore:{a}', '', ['semaphore'])).toBeUndefined();
    expect(holdOfKey('x:semaphore:{a}', 'x:y', ['semaphore'])).toBeUndefined();
  });

  it('builds SCAN patterns that cannot match another prefix or a fence counter', () => {
    expect(scanPattern('', '', undefined, 'lock')).toBe('lock:{*}');
    expect(scanPattern('kp:', 'a*b', 'job-*', 'lock')).toBe('kp:a\\*b:lock:{job-*}');
    expect(scanPattern('', 'p', 'a{b}*', 'lock')).toBe('p:lock:{a%7Bb%7D*}');
    expect(scanPattern('', 'p', 'job-?', 'lock')).toBe('p:lock:{*}');
    expect(scanPattern('', 'p', 'pool', 'semaphore')).toBe('p:semaphore:{pool}');
    // Every kind: the kind is a wildcard, and holdOfKey drops what another prefix lets through.
    expect(scanPattern('kp:', 'p', 'job-*')).toBe('kp:p:*:{job-*}');
    expect(scanPattern('', '', undefined)).toBe('*:{*}');
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

  it("reads a semaphore's hash: live grants by fence, tickets counted, dead ones and unknown fields out, tokens never out", () => {
    const [a, b, c, d] = ['ab', 'cd', 'ef', '01'].map((pair) => pair.repeat(16)) as string[];
    const fields = {
      lim: '5',
      f: '12',
      ts: '3',
      [`p:${a}`]: '3000:12:2:900:host:1: with colons',
      [`p:${b}`]: '4000:9:1:800:',
      [`p:${c}`]: '500:8:2:100:dead',
      [`t:${d}`]: '3000:3:4',
      [`t:${c}`]: '900:2:1',
      zz: 'a newer version',
    };
    expect(readSemaphoreHash('pool', 'p', fields, 1_000)).toEqual<SemaphoreInfo>({
      name: 'pool',
      prefix: 'p',
      kind: 'semaphore',
      limit: 5,
      held: 3,
      holders: [
        { permits: 1, fence: 9, since: 800, expiresInMs: 3_000 },
        { permits: 2, fence: 12, label: 'host:1: with colons', since: 900, expiresInMs: 2_000 },
      ],
      waiting: 1,
    });
    expect(readSemaphoreHash('pool', '', { f: '3' }, 1_000)).toEqual<SemaphoreInfo>({ name: 'pool', prefix: '', kind: 'semaphore', held: 0, holders: [], waiting: 0 });
    expect(JSON.stringify(readSemaphoreHash('pool', 'p', fields, 1_000))).not.toMatch(/[0-9a-f]{32}/);
  });

  it("reads an election's hash: the live leader only, never its token", () => {
    const token = 'ab'.repeat(16);
    const fields = { w: token, wf: '42', wx: '3000', wv: 'host-a:8080', wr: '2', rs: '5000:other' };
    expect(readElectionHash('cron', 'jobs', fields, 1_000)).toEqual<ElectionInfo>({
      name: 'cron',
      prefix: 'jobs',
      kind: 'election',
      value: 'host-a:8080',
      fence: 42,
      expiresInMs: 2_000,
      proclaims: 2,
    });
    expect(JSON.stringify(readElectionHash('cron', 'jobs', fields, 1_000))).not.toContain(token);
    expect(readElectionHash('cron', '', fields, 3_000)).toBeUndefined();
    expect(readElectionHash('cron', '', { rs: '5000:someone' }, 1_000)).toBeUndefined();
  });
});

describe('query: semaphores and elections', () => {
  it('lists a semaphore in use (limit, grants, fair line) and an election with a leader beside a lock of the same name, and filters by kind', async () => {
    const p = prefix();
    const lock = await held('same', { prefix: p, lease: 20_000 });
    const sem = (permits: number, label?: string): Holding<SemaphoreLease> =>
      track(semaphore$('same', { redis: server.url, prefix: p, limit: 5, permits, lease: 20_000, fair: true, ...(label === undefined ? {} : { label }) }));
    const two = await within(sem(2, 'batch: nightly').acquired, 10_000, 'two permits');
    const one = await within(sem(1).acquired, 10_000, 'one permit');
    const elected = track(elect$('same', { redis: server.url, prefix: p, value: 'host-a:8080', lease: 20_000 }));
    const term = (await within(elected.acquired, 10_000, 'elected')) as Term;
    // 3 of the 2 free: it takes a ticket in the fair line.
    sem(3);
    const semaphores = async (): Promise<SemaphoreInfo[]> => query({ redis: server.url, prefix: p, kind: 'semaphore' });
    await eventually(async () => (await semaphores())[0]?.waiting === 1, 5_000, 'a ticket in the line');

    const all = await query({ redis: server.url, prefix: p });
    expect(all.map((h) => [h.name, h.kind])).toEqual([
      ['same', 'lock'],
      ['same', 'semaphore'],
      ['same', 'election'],
    ]);
    expect((all[0] as LockHoldInfo).fence).toBe(lock.fence);
    expect(all[1]).toEqual<SemaphoreInfo>({
      name: 'same',
      prefix: p,
      kind: 'semaphore',
      limit: 5,
      held: 3,
      holders: [
        { permits: 2, fence: two.fence, label: 'batch: nightly', since: expect.any(Number) as number, expiresInMs: expect.any(Number) as number },
        { permits: 1, fence: one.fence, label: `${hostname()}:${process.pid}`, since: expect.any(Number) as number, expiresInMs: expect.any(Number) as number },
      ],
      waiting: 1,
    });
    for (const grant of (all[1] as SemaphoreInfo).holders) {
      expect(grant.expiresInMs).toBeGreaterThan(10_000);
      expect(grant.expiresInMs).toBeLessThanOrEqual(20_000);
    }
    expect(all[2]).toEqual<ElectionInfo>({
      name: 'same',
      prefix: p,
      kind: 'election',
      value: 'host-a:8080',
      fence: term.fence,
      expiresInMs: expect.any(Number) as number,
      proclaims: 0,
    });
    expect((all[2] as ElectionInfo).expiresInMs).toBeGreaterThan(10_000);
    expectNoToken(JSON.stringify(all), [lock, two, one]);

    // The filter, and a proclaim seen as a new value in the same term.
    await term.proclaim('host-b:8080');
    expect(await query({ redis: server.url, prefix: p, kind: 'election' })).toEqual([{ ...all[2], value: 'host-b:8080', proclaims: 1, expiresInMs: expect.any(Number) as number }]);
    expect((await query({ redis: server.url, prefix: p, kind: 'lock' })).map((h) => h.kind)).toEqual(['lock']);
    expect((await semaphores()).map((h) => h.held)).toEqual([3]);
    expect(await query({ redis: server.url, prefix: p, match: 'other*' })).toEqual([]);
  });

  it('leaves out a semaphore with nothing held and an election nobody leads, though their keys are still there', async () => {
    const p = prefix();
    const idle = track(semaphore$('idle', { redis: server.url, prefix: p, limit: 2 }));
    await within(idle.acquired, 10_000, 'acquired');
    const elected = track(elect$('gone', { redis: server.url, prefix: p, lease: 20_000 }));
    const term = (await within(elected.acquired, 10_000, 'elected')) as Term;
    expect((await query({ redis: server.url, prefix: p })).map((h) => [h.name, h.kind])).toEqual([
      ['gone', 'election'],
      ['idle', 'semaphore'],
    ]);
    idle.unsubscribe();
    await term.resign();
    await eventually(async () => (await query({ redis: server.url, prefix: p })).length === 0, 5_000, 'nothing listed');
    const admin = client();
    // The limit and fence outlive the grants; the resigner's record outlives the term.
    expect(await admin.exists(semaphoreKeys(p, 'idle', 0).state, lockKeys(p, 'gone', 0, '', 'election').state)).toBe(2);
  });

  it('reads one semaphore and one election in detail, with key ttl and listening processes', async () => {
    const p = prefix();
    const grant = await within(track(semaphore$('pool', { redis: server.url, prefix: p, limit: 1, lease: 10_000 })).acquired, 10_000, 'held');
    track(semaphore$('pool', { redis: server.url, prefix: p }));
    const term = (await within(track(elect$('cron', { redis: server.url, prefix: p, value: 'v', lease: 10_000 })).acquired, 10_000, 'elected')) as Term;
    await sleep(300);
    const semaphore = await readSemaphore({ redis: server.url, name: 'pool', prefix: p });
    expect(semaphore).toMatchObject({ kind: 'semaphore', limit: 1, held: 1, waiting: 0, listeners: 1 });
    expect(semaphore.holders.map((h) => [h.permits, h.fence])).toEqual([[1, grant.fence]]);
    expect(semaphore.keyTtlMs).toBeGreaterThan(10_000);
    const election = await readElection({ redis: server.url, name: 'cron', prefix: p });
    expect(election).toMatchObject({ kind: 'election', leader: { value: 'v', fence: term.fence, proclaims: 0 } });
    expect(election.keyTtlMs).toBeGreaterThan(5_000);
    expect(election.keyTtlMs).toBeLessThanOrEqual(10_000);

    expect(await readSemaphore({ redis: server.url, name: 'nothing', prefix: p })).toEqual({
      name: 'nothing',
      prefix: p,
      kind: 'semaphore',
      held: 0,
      holders: [],
      waiting: 0,
      keyTtlMs: -2,
      listeners: 0,
    });
    expect(await readElection({ redis: server.url, name: 'nothing', prefix: p })).toMatchObject({ leader: null, keyTtlMs: -2 });
    await expect(readSemaphore({ redis: server.url, name: '' })).rejects.toThrow(RangeError);
  });
});
