/**
 * isTransient: which failures a retry may cure. The replies come from real
 * redis-server processes of this file's own wherever Redis can be made to
 * give them cheaply; LOADING, CLUSTERDOWN and TRYAGAIN are built with
 * ioredis' own ReplyError (the cluster specs meet the real ones).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Redis, ReplyError } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { LockError, RedisUnavailableError } from '../../src/errors';
import { isConnectionProblem, isTransient } from '../../src/redis/deadline';
import { getFreePort, startRedisServer, type RedisServerHandle } from '../support/redis-server';

const servers: RedisServerHandle[] = [];
const clients: Redis[] = [];
let primary: RedisServerHandle;
/** Replicas write their sync file into their working directory: not the repo's. */
let dir: string;

function client(port: number, extra: Record<string, unknown> = {}): Redis {
  const c = new Redis({ host: '127.0.0.1', port, maxRetriesPerRequest: 0, ...extra });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

/** What the promise rejected with (fails the test when it resolves). */
async function rejection(promise: Promise<unknown>): Promise<Error> {
  const outcome = await promise.then(
    (value) => new Error(`resolved with ${JSON.stringify(value)}`),
    (error: unknown) => error,
  );
  expect(outcome).toBeInstanceOf(Error);
  return outcome as Error;
}

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), 'yadl-deadline-'));
  primary = await startRedisServer();
  servers.push(primary);
});

afterAll(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(servers.splice(0).map((s) => s.stop()));
  rmSync(dir, { recursive: true, force: true });
});

describe('isTransient', () => {
  it('OOM and NOREPLICAS from a real server are transient', async () => {
    const admin = client(primary.port);
    await admin.config('SET', 'maxmemory', '1');
    const oom = await rejection(admin.set('k', 'v'));
    await admin.config('SET', 'maxmemory', '0');
    await admin.config('SET', 'min-replicas-to-write', '1');
    const noReplicas = await rejection(admin.set('k', 'v'));
    await admin.config('SET', 'min-replicas-to-write', '0');
    expect(oom.message).toMatch(/^OOM /);
    expect(noReplicas.message).toMatch(/^NOREPLICAS /);
    for (const error of [oom, noReplicas]) {
      expect(error.name).toBe('ReplyError');
      expect(isConnectionProblem(error)).toBe(false);
      expect(isTransient(error), error.message).toBe(true);
    }
  });

  it('READONLY from a replica and MASTERDOWN from a replica cut off from its primary are transient', async () => {
    const replica = await startRedisServer({ args: ['--dir', dir, '--replicaof', '127.0.0.1', String(primary.port)] });
    servers.push(replica);
    const readOnly = await rejection(client(replica.port).set('k', 'v'));
    // A replica that may not serve stale data answers even PING with MASTERDOWN: made one once started.
    const orphan = await startRedisServer({ args: ['--dir', dir, '--replica-serve-stale-data', 'no'] });
    servers.push(orphan);
    const orphanClient = client(orphan.port);
    await orphanClient.call('REPLICAOF', '127.0.0.1', String(await getFreePort()));
    const masterDown = await rejection(orphanClient.get('k'));
    expect(readOnly.message).toMatch(/^READONLY /);
    expect(masterDown.message).toMatch(/^MASTERDOWN /);
    expect(isTransient(readOnly)).toBe(true);
    expect(isTransient(masterDown)).toBe(true);
  });

  it('BUSY, while another client runs a slow script, is transient', async () => {
    const admin = client(primary.port);
    await admin.config('SET', 'busy-reply-threshold', '50');
    const spinning = client(primary.port).eval('local i = 0 while true do i = i + 1 end', 0).catch((e: unknown) => e);
    await new Promise((resolve) => setTimeout(resolve, 200));
    const busy = await rejection(admin.ping());
    await admin.call('SCRIPT', 'KILL');
    await spinning;
    await admin.config('SET', 'busy-reply-threshold', '5000');
    expect(busy.message).toMatch(/^BUSY /);
    expect(isTransient(busy)).toBe(true);
  });

  it('LOADING, CLUSTERDOWN, TRYAGAIN and ioredis giving up on redirections are transient', () => {
    const replies = [
      'LOADING Redis is loading the dataset in memory',
      'CLUSTERDOWN The cluster is down',
      'TRYAGAIN Multiple keys request during rehashing of slot',
    ];
    for (const reply of replies) expect(isTransient(new ReplyError(reply)), reply).toBe(true);
    const gaveUp = new Error(`Too many Cluster redirections. Last error: ${String(new ReplyError(replies[2]))}`);
    expect(isTransient(gaveUp)).toBe(true);
  });

  it('a refused connection is transient (as isConnectionProblem says)', async () => {
    const refused = await rejection(client(await getFreePort(), { retryStrategy: () => null, lazyConnect: true }).ping());
    expect(isConnectionProblem(refused)).toBe(true);
    expect(isTransient(refused)).toBe(true);
  });

  it('real answers are not: WRONGTYPE, NOSCRIPT, unknown command, NOPERM, a script error, BUSYKEY, BUSYGROUP; nor yadl errors', async () => {
    const admin = client(primary.port);
    await admin.set('plain', 'v');
    await admin.del('stream');
    await admin.xgroup('CREATE', 'stream', 'g', '$', 'MKSTREAM');
    await admin.call('ACL', 'SETUSER', 'limited', 'on', '>pw', '~*', '-@all', '+ping');
    const limited = client(primary.port, { username: 'limited', password: 'pw' });
    const answers = [
      await rejection(admin.hget('plain', 'f')),
      await rejection(admin.evalsha('0'.repeat(40), 0)),
      await rejection(admin.call('NO-SUCH-COMMAND')),
      await rejection(limited.get('plain')),
      await rejection(admin.eval("return redis.error_reply('YADLSTATE not ours')", 0)),
      await rejection(admin.restore('plain', 0, await admin.dumpBuffer('plain'))),
      await rejection(admin.xgroup('CREATE', 'stream', 'g', '$')),
    ];
    expect(answers.map((e) => e.message.split(' ')[0])).toEqual(['WRONGTYPE', 'NOSCRIPT', 'ERR', 'NOPERM', 'YADLSTATE', 'BUSYKEY', 'BUSYGROUP']);
    for (const error of answers) expect(isTransient(error), error.message).toBe(false);
    expect(isTransient(new LockError('not yours', 'x'))).toBe(false);
    expect(isTransient(new RedisUnavailableError('x', 'cluster', 500))).toBe(false);
    expect(isTransient(new TypeError('bad input'))).toBe(false);
  });
});

describe('RedisUnavailableError', () => {
  it('says what Redis kept answering when it answered, and "did not answer" when it was silent', async () => {
    const tryAgain = new ReplyError('TRYAGAIN Multiple keys request during rehashing of slot');
    const fromReply = new RedisUnavailableError('x', 'cluster', 500, { cause: tryAgain, waited: 512 });
    expect(fromReply.message).toBe('Redis at cluster kept answering "TRYAGAIN Multiple keys request during rehashing of slot" for 512 ms');
    expect(fromReply.lastReply).toBe(tryAgain.message);
    expect(fromReply.cause).toBe(tryAgain);

    const gaveUp = new Error(`Too many Cluster redirections. Last error: ${String(new ReplyError('CLUSTERDOWN The cluster is down'))}`);
    expect(new RedisUnavailableError('x', 'cluster', 500, { cause: gaveUp }).message).toBe(
      'Redis at cluster kept answering "CLUSTERDOWN The cluster is down" for 500 ms',
    );
    const redirected = new Error(`Too many Cluster redirections. Last error: ${String(new ReplyError('MOVED 14427 127.0.0.1:7000'))}`);
    expect(new RedisUnavailableError('x', 'cluster', 500, { cause: redirected }).message).toBe(
      'Redis at cluster kept redirecting the command (last reply "MOVED 14427 127.0.0.1:7000") for 500 ms',
    );
    expect(new RedisUnavailableError('x', 'cluster', 500, { reply: 'LOADING Redis is loading' }).message).toBe(
      'Redis at cluster kept answering "LOADING Redis is loading" for 500 ms',
    );

    const port = await getFreePort();
    const refused = await rejection(client(port, { retryStrategy: () => null, lazyConnect: true }).ping());
    const silent = new RedisUnavailableError('x', `127.0.0.1:${port}/0`, 500, { cause: refused });
    expect(silent.message).toBe(`Redis at 127.0.0.1:${port}/0 did not answer within 500 ms: ${refused.message}`);
    expect(silent.lastReply).toBeUndefined();
    const closed = new Error('Too many Cluster redirections. Last error: Error: Connection is closed.');
    expect(new RedisUnavailableError('x', 'cluster', 500, { cause: closed }).message).toMatch(/^Redis at cluster did not answer within 500 ms/);
  });
});
