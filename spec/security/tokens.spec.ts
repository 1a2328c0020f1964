/**
 * Owner tokens are 128 random bits (32 hex characters), all distinct, and
 * never shown: no error yadl raises (NotOwnerError, LockLostError,
 * LockTimeoutError, RedisUnavailableError) contains one, in any rendering a
 * logger would print, and yadl logs nothing. Every token yadl ever sent is
 * collected with MONITOR on a private server, so that tokens a caller never
 * sees (a waiter's) are checked too. The scripts are the same whatever the
 * names, prefixes and tokens: data reaches them only through KEYS and ARGV.
 */
import { inspect } from 'node:util';
import { afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { LockLostError, LockTimeoutError, NotOwnerError, RedisLock, RedisUnavailableError, lock$, type Lease } from '../../src/index';
import { stateKey, useFaultKit, within } from '../faults/fault-kit';
import { startMonitor } from '../support/monitor';

const kit = useFaultKit();
const TOKEN = /(?<![0-9a-f])[0-9a-f]{32}(?![0-9a-f])/g;

let consoleSpies: MockInstance[] = [];
beforeEach(() => {
  consoleSpies = (['log', 'info', 'warn', 'error', 'debug'] as const).map((level) => vi.spyOn(console, level));
});
afterEach(() => {
  for (const spy of consoleSpies) spy.mockRestore();
});

/** Collects every 32-hex argument of every command the server at `url` receives, and every script body and SHA. */
async function monitor(url: string): Promise<{ tokens: Set<string>; scripts: Set<string>; stop: () => Promise<void> }> {
  const tokens = new Set<string>();
  const scripts = new Set<string>();
  const m = await startMonitor(url, (_time, args) => {
    const command = (args[0] ?? '').toLowerCase();
    if (command === 'evalsha' || command === 'eval') scripts.add(`${command} ${args[1]?.slice(0, 2_000)}`);
    for (const arg of args.slice(command.startsWith('eval') ? 2 : 1)) for (const t of arg.match(TOKEN) ?? []) tokens.add(t);
  });
  return { tokens, scripts, stop: () => m.stop() };
}

function renderings(error: unknown): string {
  const e = error as Error;
  return [String(e), e.message, e.stack ?? '', inspect(e, { depth: 10, showHidden: true }), JSON.stringify(e) ?? ''].join('\n');
}

describe('owner tokens', () => {
  it('are 32 hex characters (128 bits), distinct over 1000 acquisitions, and look uniformly random', async () => {
    const server = await kit.server();
    const client = kit.client(server.url);
    const holdings = Array.from({ length: 1_000 }, (_, i) => kit.hold(lock$(`t${i % 50}-${i}`, { redis: client, prefix: 'tok' })));
    const leases: Lease[] = await within(Promise.all(holdings.map((h) => h.acquired)), 20_000, '1000 acquisitions');
    for (const h of holdings) h.unsubscribe();
    const tokens = leases.map((l) => l.token);
    for (const token of tokens) expect(token).toMatch(/^[0-9a-f]{32}$/);
    expect(new Set(tokens).size).toBe(1_000);
    // 128 000 bits: the share of ones is 0.5 +- 0.0014 (1 sigma); +- 1% would be 7 sigma.
    const ones = tokens.join('').split('').reduce((n, hex) => n + [...parseInt(hex, 16).toString(2)].filter((b) => b === '1').length, 0);
    expect(Math.abs(ones / 128_000 - 0.5)).toBeLessThan(0.01);
    // No two tokens share a long common prefix (as counters or timestamps would).
    const sorted = [...tokens].sort();
    const longest = Math.max(...sorted.slice(1).map((t, i) => commonPrefix(t, sorted[i]!)));
    expect(longest).toBeLessThan(8);
  });

  it('never appear in NotOwnerError, LockLostError, LockTimeoutError or RedisUnavailableError, and nothing is logged', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const seen = await monitor(server.url);
    const proxy = await kit.proxy(server);
    const errors: unknown[] = [];
    const lease = async (name: string, options: Parameters<typeof lock$>[1] = {}): Promise<ReturnType<typeof kit.hold>> => {
      const holding = kit.hold(lock$(name, { redis: server.url, prefix: 'tok', ...options }));
      await within(holding.acquired, 5_000, name);
      return holding;
    };
    const errorOf = async (holding: ReturnType<typeof kit.hold>): Promise<unknown> => {
      const ending = await within(holding.ended, 5_000, 'an error');
      return (ending as { error?: unknown }).error;
    };
    try {
      // NotOwnerError: releasing a lock another owner holds, and one that is free.
      const held = await lease('owned');
      const other = new RedisLock('owned', { redis: server.url, prefix: 'tok' });
      errors.push(await other.release().catch((e: unknown) => e));
      held.unsubscribe();
      errors.push(await other.release().catch((e: unknown) => e));
      // NotOwnerError after the hold was taken away (force-released by another instance).
      const victim = new RedisLock('forced', { redis: server.url, prefix: 'tok' });
      await victim.acquire();
      await new RedisLock('forced', { redis: server.url, prefix: 'tok' }).release({ force: true });
      errors.push(await victim.release().catch((e: unknown) => e));

      // LockTimeoutError: one attempt, and a wait that times out (its token went to Redis).
      const blocker = await lease('busy');
      errors.push(await errorOf(kit.hold(lock$('busy', { redis: server.url, prefix: 'tok', timeout: 0 }))));
      errors.push(await errorOf(kit.hold(lock$('busy', { redis: server.url, prefix: 'tok', timeout: 150, mode: 'read' }))));
      blocker.unsubscribe();

      // LockLostError: expired (ttl), gone (deleted behind its back), unconfirmed (partitioned).
      errors.push(await errorOf(await lease('expiring', { ttl: 200 })));
      const gone = await lease('deleted', { lease: 300 });
      await admin.del(stateKey('tok', 'deleted'));
      errors.push(await errorOf(gone));
      const partitioned = kit.hold(lock$('partitioned', { redis: proxy.url, prefix: 'tok', lease: 300 }));
      await within(partitioned.acquired, 5_000, 'partitioned');
      proxy.freeze();
      errors.push(await errorOf(partitioned));

      // RedisUnavailableError: an acquire whose token is stuck in the frozen proxy.
      errors.push(await errorOf(kit.hold(lock$('stuck', { redis: proxy.url, prefix: 'tok', redisTimeout: 300 }))));
      proxy.thaw();
      await new Promise((resolve) => setTimeout(resolve, 300)); // the held-back commands (tokens) reach Redis
    } finally {
      await seen.stop();
    }

    const kinds = errors.map((e) => (e as Error).constructor.name);
    expect(errors.filter((e) => e instanceof NotOwnerError)).toHaveLength(3);
    expect(errors.filter((e) => e instanceof LockTimeoutError)).toHaveLength(2);
    expect(errors.filter((e) => e instanceof LockLostError).map((e) => (e as LockLostError).reason)).toEqual(['expired', 'gone', 'unconfirmed']);
    expect(errors.filter((e) => e instanceof RedisUnavailableError), kinds.join()).toHaveLength(1);
    expect(seen.tokens.size).toBeGreaterThanOrEqual(9); // every owner above but the two facades that only released
    for (const error of errors) {
      const text = renderings(error);
      expect(text.match(TOKEN) ?? [], `a token in ${(error as Error).name}`).toEqual([]);
      for (const token of seen.tokens) expect(text).not.toContain(token);
    }
    const logged = consoleSpies.flatMap((spy) => spy.mock.calls.map((args) => args.map((a) => inspect(a)).join(' ')));
    expect(logged.filter((line) => new RegExp(TOKEN.source).test(line))).toEqual([]);
  });

  it('do not change the scripts: names, prefixes and tokens reach them only as KEYS and ARGV', async () => {
    const server = await kit.server();
    const seen = await monitor(server.url);
    const client = kit.client(server.url);
    const hostile = ["a'b", 'a"b', ']]', '--[[', 'end', "'); redis.call('FLUSHALL') --", '\\', '\n', '{}', '%s'];
    try {
      for (const name of hostile) {
        for (const prefix of ['', ...hostile.slice(0, 3)]) {
          const h = kit.hold(lock$(name, { redis: client, prefix, mode: name.length % 2 ? 'read' : 'write' }));
          await within(h.acquired, 5_000, `lock ${JSON.stringify(name)}`);
          h.unsubscribe();
        }
      }
      await new RedisLock('x', { redis: client }).locked();
      await new RedisLock('x', { redis: client }).release({ force: true });
    } finally {
      await new Promise((resolve) => setTimeout(resolve, 100));
      await seen.stop();
    }
    const shas = new Set([...seen.scripts].filter((s) => s.startsWith('evalsha ')));
    const bodies = new Set([...seen.scripts].filter((s) => s.startsWith('eval ')));
    // acquire, release, inspect, force-release: one SHA each, and each body sent at most once.
    expect(shas.size).toBeLessThanOrEqual(6);
    expect(bodies.size).toBeLessThanOrEqual(shas.size);
    expect(await kit.client(server.url).dbsize()).toBeGreaterThan(0); // nothing flushed
  });
});

function commonPrefix(a: string, b: string): number {
  let i = 0;
  while (i < a.length && a[i] === b[i]) i++;
  return i;
}
