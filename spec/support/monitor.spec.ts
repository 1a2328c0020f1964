import { Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { parseMonitorLine, startMonitor, type MonitorEntry, type RedisMonitor } from './monitor';
import { activeTimers } from './quiescence';
import { useRedis } from './redis-context';
import { startRedisServer, type RedisServerHandle } from './redis-server';

const redis = useRedis();
const servers: RedisServerHandle[] = [];
const monitors: RedisMonitor[] = [];
afterEach(async () => {
  await Promise.all(monitors.splice(0).map((m) => m.stop().catch(() => undefined)));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

const sockets = (): number => process.getActiveResourcesInfo().filter((r) => r === 'TCPSocketWrap').length;

async function waitFor(check: () => boolean | Promise<boolean>, what: string, ms = 5_000): Promise<void> {
  const until = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

/** Monitors `url` while `act` runs, until ECHO `end` shows; every entry seen, ECHO excluded. */
async function record(url: string, marker: string, act: () => Promise<unknown>): Promise<MonitorEntry[]> {
  const seen: MonitorEntry[] = [];
  let done = false;
  const monitor = await startMonitor(url, (time, args, source, db, raw) => {
    if (args[0]?.toLowerCase() === 'echo' && args[1] === marker) done = true;
    else if (!done && args.some((a) => a.includes(marker))) seen.push({ time, args, source, db, raw: [...raw] });
  });
  monitors.push(monitor);
  await act();
  await waitFor(() => done, 'the end marker');
  await monitor.stop();
  return seen;
}

describe('parseMonitorLine', () => {
  it('reads the time, db, source and each argument as Redis escapes it', () => {
    expect(parseMonitorLine('1796210652.365506 [0 127.0.0.1:36372] "evalsha" "ab12" "1" "k:{n}"')).toEqual({
      time: '1796210652.365506',
      db: 0,
      source: '127.0.0.1:36372',
      args: ['evalsha', 'ab12', '1', 'k:{n}'],
      raw: ['evalsha', 'ab12', '1', 'k:{n}'].map((a) => Buffer.from(a)),
    });
    const e = parseMonitorLine('1.000001 [15 lua] "set" "a \\"b\\" \\\\ c" "\\n\\r\\t\\a\\b" "\\x00\\xff\\xc3\\xa9" ""')!;
    expect(e.db).toBe(15);
    expect(e.source).toBe('lua');
    expect(e.args.slice(0, 3)).toEqual(['set', 'a "b" \\ c', '\n\r\t\x07\b']);
    expect(e.raw[3]).toEqual(Buffer.from([0x00, 0xff, 0xc3, 0xa9]));
    expect(e.args[4]).toBe('');
    expect(parseMonitorLine('2.5 [0 [::1]:6000] "ping"')?.source).toBe('[::1]:6000');
    expect(parseMonitorLine('2.5 [0 unix:/tmp/r.sock] "ping" "] \\"x"')?.args).toEqual(['ping', '] "x']);
  });

  it('refuses what is not a MONITOR line', () => {
    for (const line of ['OK', '1.5 [0 lua]', '1.5 [0 lua] ping', '1.5 [0 lua] "ping', '1.5 [0 lua] "a""b"', '1.5 [0 lua] "\\q"', '1.5 [0 lua] "\\x4"']) {
      expect(parseMonitorLine(line), line).toBeUndefined();
    }
  });
});

describe('startMonitor on a real Redis', () => {
  it('reports commands with spaces, quotes, escapes and binary bytes, and the calls of a Lua script as source lua', async () => {
    const client = redis.client();
    const m = `mon-${redis.prefix()}`;
    const awkward = `${m} a "quoted" \\ back\nslash\r\t\x07\x08 é`;
    const binary = Buffer.concat([Buffer.from(`${m}:`), Buffer.from([0x00, 0x01, 0x7f, 0x80, 0xff, 0x22, 0x5c])]);
    await client.ping();
    const addr = /\baddr=(\S+)/.exec((await client.client('INFO')) as string)![1]!;
    const seen = await record(redis.url, m, async () => {
      await client.set(`${m}:k`, awkward);
      await client.set(binary, binary);
      await client.eval("return redis.call('SET', KEYS[1], ARGV[1])", 1, `${m}:lua`, 'x y');
      await client.echo(m);
    });
    expect(seen.map((e) => e.args)).toEqual([
      ['set', `${m}:k`, awkward],
      ['set', binary.toString('utf8'), binary.toString('utf8')],
      ['eval', "return redis.call('SET', KEYS[1], ARGV[1])", '1', `${m}:lua`, 'x y'],
      ['SET', `${m}:lua`, 'x y'],
    ]);
    expect(seen[1]!.raw).toEqual([Buffer.from('set'), binary, binary]);
    expect(seen.map((e) => e.source)).toEqual([addr, addr, addr, 'lua']);
    for (const e of seen) {
      expect(e.db).toBe(0);
      expect(e.time).toMatch(/^\d+\.\d{6}$/);
    }
  });

  it('stop() closes its socket and timer, the server forgets it, and a second stop() is harmless', async () => {
    const admin = redis.client();
    await admin.ping();
    const [socketsBefore, timersBefore] = [sockets(), activeTimers()];
    const monitor = await startMonitor(redis.url);
    expect(sockets()).toBe(socketsBefore + 1);
    const monitorsOnServer = async (): Promise<number> => ((await admin.client('LIST')) as string).split('\n').filter((l) => /\bflags=\S*O/.test(l)).length;
    expect(await monitorsOnServer()).toBeGreaterThanOrEqual(1);
    await monitor.stop();
    expect(sockets()).toBe(socketsBefore);
    expect(activeTimers()).toBe(timersBefore);
    await monitor.stop();
    expect(monitor.failure).toBeUndefined();
  });

  it('AUTHs with the password of the URL (and a user), and rejects, leaving no socket, when AUTH fails', async () => {
    const server = await startRedisServer({ password: 'pa ss"w' });
    servers.push(server);
    const admin = new Redis(server.url, { lazyConnect: true });
    try {
      await admin.call('ACL', 'SETUSER', 'watcher', 'on', '>w-secret', '+@all', '~*');
      const seen: string[][] = [];
      // The first monitor also sees the second one's AUTH (redacted): only the marker key counts.
      const keep = (args: string[]): void => void (args[1] === 'auth-check' && seen.push(args));
      const monitor = await startMonitor(server.url, (_t, args) => keep(args));
      monitors.push(monitor);
      const asUser = await startMonitor({ port: server.port, username: 'watcher', password: 'w-secret' }, (_t, args) => keep(args));
      monitors.push(asUser);
      await admin.set('auth-check', '1');
      await waitFor(() => seen.length >= 2, 'both monitors');
      expect(seen).toEqual([
        ['set', 'auth-check', '1'],
        ['set', 'auth-check', '1'],
      ]);
      const socketsBefore = sockets();
      await expect(startMonitor({ port: server.port, password: 'wrong' })).rejects.toThrow(/AUTH answered -WRONGPASS/);
      await expect(startMonitor({ port: server.port })).rejects.toThrow(/NOAUTH/);
      expect(sockets()).toBe(socketsBefore);
    } finally {
      admin.disconnect();
    }
  });

  it('starts and stops cleanly while a client floods the server (where ioredis\' monitor() raced)', async () => {
    const client = redis.client();
    const m = `flood-${redis.prefix()}`;
    let flooding = true;
    const flood = (async () => {
      let i = 0;
      while (flooding) {
        const pipeline = client.pipeline();
        for (let j = 0; j < 100; j++) pipeline.evalsha('0'.repeat(40), 1, `${m}:${i++}`).set(`${m}:k`, 'v');
        await pipeline.exec();
      }
    })();
    try {
      for (let round = 0; round < 10; round++) {
        let seen = 0;
        const monitor = await startMonitor(redis.url, (_t, args) => void (args[1]?.startsWith(m) === true && (seen += 1)));
        await waitFor(() => seen >= 50, 'flood commands');
        await monitor.stop();
        expect(monitor.failure).toBeUndefined();
      }
    } finally {
      flooding = false;
      await flood;
    }
  });

  it('a listener that throws ends the record: stop() rejects with its error, nothing is uncaught', async () => {
    const client = redis.client();
    const monitor = await startMonitor(redis.url, () => {
      throw new Error('listener broke');
    });
    await client.ping();
    await waitFor(() => monitor.failure !== undefined, 'the failure');
    await expect(monitor.stop()).rejects.toThrow('listener broke');
  });

  it('a record that broke off (the server went away) makes stop() reject', async () => {
    const server = await startRedisServer();
    servers.push(server);
    const monitor = await startMonitor(server.url);
    await server.stop();
    await waitFor(() => monitor.failure !== undefined, 'the failure');
    await expect(monitor.stop()).rejects.toThrow(/closed|ECONNRESET/);
  });
});
