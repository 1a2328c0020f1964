/**
 * yadl works as a Redis ACL user limited to its key prefix ('myapp'), its
 * keyspace channels and the commands it needs. The minimal set, found by
 * taking each command away in turn ('every command of the minimal set is
 * needed' shows what breaks):
 *
 *   ACL SETUSER locker on >pw ~myapp:* &__keyspace@0__:myapp:* -@all
 *     +evalsha +eval +subscribe +unsubscribe +info
 *     +time +get +set +pexpire +pttl +del +exists
 *     +hget +hmget +hgetall +hkeys +hset +hdel +hincrby +publish
 *     [+wait] [+config|get +config|set]
 *
 * evalsha/eval run the scripts (eval once per script after a restart or
 * SCRIPT FLUSH); the commands from time to publish are the ones the scripts
 * call, which Redis checks against the user too; subscribe/unsubscribe are
 * the waiters' keyspace channels; info is ioredis' ready check (without it
 * ioredis warns and skips the check). CONFIG is optional: with it yadl turns
 * on notify-keyspace-events 'Kx' (expiry events); releases are published by
 * the scripts either way, so handoffs stay prompt without it. WAIT is
 * needed with `replicas` only; the last test runs the README's example,
 * replicas included.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis } from 'ioredis';
import { afterAll, afterEach, beforeEach, describe, expect, it, vi, type MockInstance } from 'vitest';
import { RedisLock, lock$, type LockMode } from '../../src/index';
import { channelOf, eventually, sleep, subscribers, useFaultKit, within } from '../faults/fault-kit';

const kit = useFaultKit();

const SCRIPTS = ['evalsha', 'eval'];
const IN_SCRIPTS = [
  'time',
  'get',
  'set',
  'pexpire',
  'pttl',
  'del',
  'exists',
  'hget',
  'hmget',
  'hgetall',
  'hkeys',
  'hset',
  'hdel',
  'hincrby',
  'publish',
];
const CHANNELS = ['subscribe', 'unsubscribe'];
const CONNECTION = ['info'];
export const MINIMAL = [...SCRIPTS, ...IN_SCRIPTS, ...CHANNELS, ...CONNECTION];
const CONFIG = ['config|get', 'config|set'];
const PROMPT = 1_000;

let warn: MockInstance<typeof console.warn>;
beforeEach(() => {
  warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
});
afterEach(() => warn.mockRestore());

async function createUser(admin: Redis, user: string, commands: string[]): Promise<string> {
  await admin.call('ACL', 'SETUSER', user, 'on', '>pw', '~myapp:*', '&__keyspace@0__:myapp:*', '-@all', ...commands.map((c) => `+${c}`));
  const { port } = admin.options;
  return `redis://${user}:pw@127.0.0.1:${port}/0`;
}

/**
 * Locks, waits, hands over (write -> 2 readers -> a writer queued behind
 * them), checks, force-releases and lets a channel go, as the given user.
 * Returns what went wrong, [] when nothing did.
 */
async function scenario(url: string, admin: Redis, checkUnsubscribe: boolean): Promise<string[]> {
  const problems: string[] = [];
  const options = { redis: url, prefix: 'myapp', redisTimeout: 1_000, timeout: 3_000 };
  const take = (name: string, mode: LockMode): ReturnType<typeof kit.hold> => kit.hold(lock$(name, { ...options, mode }));
  const step = async (what: string, run: () => Promise<unknown>): Promise<boolean> => {
    try {
      await run();
      return true;
    } catch (error) {
      problems.push(`${what}: ${String(error).slice(0, 160)}`);
      return false;
    }
  };
  const prompt = async (what: string, acquired: Promise<unknown>): Promise<boolean> => {
    const start = performance.now();
    const ok = await step(what, () => within(acquired, 4_000, what));
    if (ok && performance.now() - start > PROMPT) problems.push(`${what}: took ${(performance.now() - start).toFixed(0)} ms`);
    return ok;
  };

  // Waiters of a release made through the same connection are woken by its reply; the
  // holder uses a connection of its own so that the waiters depend on their subscription.
  await eventually(async () => (await subscribers(admin, channelOf('myapp', 'x'))) === 0, 2_000, 'no subscriber left');
  const other = take('other', 'write'); // keeps a second channel alive (for the unsubscribe check)
  const writer = kit.hold(lock$('x', { ...options, redis: kit.client(url), mode: 'write' }));
  if (!(await step('acquire', () => within(writer.acquired, 4_000, 'acquire')))) return problems;
  await step('other', () => within(other.acquired, 4_000, 'other'));
  const otherWaiter = take('other', 'write');
  const readers = [take('x', 'read'), take('x', 'read')];
  await eventually(async () => (await subscribers(admin, channelOf('myapp', 'x'))) > 0, 1_500, 'subscribed').catch(() =>
    problems.push('the waiters did not subscribe'),
  );
  writer.unsubscribe();
  if (!(await prompt('handoff to 2 readers', Promise.all(readers.map((r) => r.acquired))))) return problems;
  const queuedWriter = take('x', 'write');
  await sleep(50);
  for (const r of readers) r.unsubscribe();
  if (!(await prompt('handoff to the writer queued behind the readers', queuedWriter.acquired))) return problems;
  const facade = new RedisLock('x', { redis: url, prefix: 'myapp', redisTimeout: 1_000 });
  await step('locked()', async () => {
    if (!(await facade.locked())) throw new Error('locked() said false');
  });
  await step('release({ force: true })', () => facade.release({ force: true }));
  queuedWriter.unsubscribe();
  // The fair line: a ticket (its number from HINCRBY) and a handoff granted by the release.
  const fairHolder = take('f', 'write');
  if (await step('fair holder', () => within(fairHolder.acquired, 4_000, 'fair holder'))) {
    const fairWaiter = kit.hold(lock$('f', { ...options, fair: true }));
    await sleep(50);
    fairHolder.unsubscribe();
    await prompt('fair handoff', fairWaiter.acquired);
    fairWaiter.unsubscribe();
    // Its release leaves only the line's counter: the hash goes (DEL), nothing lingers.
    await eventually(async () => (await admin.exists('myapp:lock:{f}')) === 0, 1_000, 'the fair lock gone').catch(() =>
      problems.push('the fair lock was not deleted after its release'),
    );
  }
  // A renewed lease that outlives its first renewals (the renew script).
  const renewed = kit.hold(lock$('renewed', { ...options, lease: 300 }));
  if (await step('renewed lease', () => within(renewed.acquired, 4_000, 'renewed lease'))) {
    await sleep(250); // renewed about 100 and 200 ms after the grant
    const ending = renewed.ending();
    if (ending !== undefined) problems.push(`renewal: ${ending.kind === 'error' ? String(ending.error).slice(0, 160) : 'completed'}`);
    renewed.unsubscribe();
  }
  if (checkUnsubscribe) {
    await sleep(800); // the channel of 'x' lingers 500 ms, then is unsubscribed while 'other' stays
    const left = await subscribers(admin, channelOf('myapp', 'x'));
    if (left !== 0) problems.push(`the channel of 'x' is still subscribed (${left})`);
  }
  other.unsubscribe();
  otherWaiter.unsubscribe();
  if (warn.mock.calls.length > 0) problems.push(`console.warn: ${String(warn.mock.calls[0]?.[0]).slice(0, 80)}`);
  return problems;
}

async function flags(admin: Redis): Promise<string> {
  return ((await admin.config('GET', 'notify-keyspace-events')) as string[])[1] ?? '';
}

describe('a Redis ACL user limited to its prefix, channels and commands', () => {
  it('with the minimal set (and CONFIG), locks, waits, hand-overs and releases work; yadl enables Kx', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const url = await createUser(admin, 'locker', [...MINIMAL, ...CONFIG]);
    expect(await scenario(url, admin, true)).toEqual([]);
    expect(await flags(admin)).toMatch(/^(?=.*K)(?=.*x)/);
    const keys = await admin.keys('*');
    expect(keys.every((k) => k.startsWith('myapp:'))).toBe(true);
  });

  it('without CONFIG (notifications off on the server), waiting still hands over promptly: scripts publish the wake-ups', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    await admin.config('SET', 'notify-keyspace-events', '');
    const url = await createUser(admin, 'locker', MINIMAL);
    expect(await scenario(url, admin, true)).toEqual([]);
    expect(await flags(admin)).toBe('');
  });

  it('the user cannot touch keys outside its prefix, and neither can yadl for it', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const url = await createUser(admin, 'locker', MINIMAL);
    const outside = kit.hold(lock$('x', { redis: url, prefix: 'elsewhere', redisTimeout: 1_000 }));
    const ending = await within(outside.ended, 3_000, 'the refusal');
    expect(String((ending as { error?: unknown }).error)).toMatch(/NOPERM|no permissions/i);
    expect(await admin.keys('elsewhere*')).toEqual([]);
  });

  it('every command of the minimal set is needed: taking any one away breaks or degrades the scenario', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    await admin.config('SET', 'notify-keyspace-events', '');
    const broken: Record<string, string[]> = {};
    for (const missing of MINIMAL) {
      await admin.call('SCRIPT', 'FLUSH'); // so that eval is needed again
      const url = await createUser(admin, `without-${missing}`, MINIMAL.filter((c) => c !== missing));
      warn.mockClear();
      broken[missing] = await scenario(url, admin, missing === 'unsubscribe');
      for (const h of ['x', 'other', 'f']) await admin.del(`myapp:lock:{${h}}`);
    }
    console.log(
      `[acl] without each command:\n${Object.entries(broken)
        .map(([c, p]) => `  -${c}: ${p[0] ?? 'nothing broke'}`)
        .join('\n')}`,
    );
    expect(Object.entries(broken).filter(([, p]) => p.length === 0).map(([c]) => c)).toEqual([]);
  }, 60_000);
});

describe("the README's ACL example", () => {
  // A replica writes its sync file into its working directory: not the repo's.
  const dir = mkdtempSync(path.join(tmpdir(), 'yadl-acl-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  /** The rules of the README's `ACL SETUSER locker ...` example, its password replaced. */
  function readmeRules(): string[] {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const example = /```\n\s*ACL SETUSER locker ([^`]+)```/.exec(readme)?.[1];
    if (example === undefined) throw new Error('no ACL SETUSER locker example in README.md');
    return example
      .split(/\s+/)
      .filter((rule) => rule !== '')
      .map((rule) => (rule.startsWith('>') ? '>pw' : rule));
  }

  it('is enough for replicas: 1 (WAIT) as well as for locks, waits and hand-overs', async () => {
    const server = await kit.server({ args: ['--repl-diskless-sync-delay', '0'] });
    const replica = await kit.server({ args: ['--replicaof', '127.0.0.1', String(server.port), '--dir', dir] });
    const admin = kit.admin(server.url);
    await eventually(async () => /slave0:.*state=online/.test(await admin.info('replication')), 10_000, 'the replica in sync');
    await admin.call('ACL', 'SETUSER', 'locker', ...readmeRules());
    const url = `redis://locker:pw@127.0.0.1:${server.port}/0`;
    expect(await scenario(url, admin, true)).toEqual([]);
    const acked = kit.hold(lock$('acked', { redis: url, prefix: 'myapp', replicas: 1, redisTimeout: 1_000 }));
    const lease = await within(acked.acquired, 5_000, 'replicas: 1 as the README user');
    expect(await kit.admin(replica.url).hget('myapp:lock:{acked}', 'w')).toBe(lease.token);
  });
});

