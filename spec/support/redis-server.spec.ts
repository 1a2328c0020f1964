import net from 'node:net';
import { Redis } from 'ioredis';
import { afterEach, describe, expect, inject, it } from 'vitest';
import { redisServerAvailable, startRedisServer, type RedisServerHandle } from './redis-server';

const started: RedisServerHandle[] = [];
const clients: Redis[] = [];

async function start(opts?: Parameters<typeof startRedisServer>[0]): Promise<RedisServerHandle> {
  const server = await startRedisServer(opts);
  started.push(server);
  return server;
}

function client(url: string): Redis {
  const c = new Redis(url, {
    lazyConnect: true,
    enableReadyCheck: false, // the ready check (INFO) would fail without AUTH
    maxRetriesPerRequest: 0,
    retryStrategy: () => null,
  });
  c.on('error', () => undefined);
  clients.push(c);
  return c;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

function portFree(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

afterEach(async () => {
  await Promise.all(clients.splice(0).map((c) => c.quit().catch(() => c.disconnect())));
  await Promise.all(started.splice(0).map((s) => s.stop()));
});

describe.runIf(redisServerAvailable())('redis-server test fixture', () => {
  it('provides a shared test Redis URL', () => {
    expect(inject('redisUrl')).toMatch(/^rediss?:\/\//);
  });

  it('starts a server on a free loopback port that answers PING, and stop() frees it', async () => {
    const server = await start();
    expect(server.host).toBe('127.0.0.1');
    expect(server.port).not.toBe(6379);
    expect(server.url).toBe(`redis://127.0.0.1:${server.port}/0`);
    expect(pidAlive(server.pid)).toBe(true);

    const c = client(server.url);
    await c.connect();
    expect(await c.ping()).toBe('PONG');
    await c.quit();

    await server.stop();
    await server.stop(); // idempotent
    expect(pidAlive(server.pid)).toBe(false);
    expect(await portFree(server.port)).toBe(true);
  });

  it.each([
    ['an empty string', ''],
    ['a literal ""', '""'],
  ])('passes arguments verbatim: CONFIG can be renamed away (%s)', async (_label, newName) => {
    const server = await start({ args: ['--rename-command', 'CONFIG', newName] });
    const c = client(server.url);
    await c.connect();
    expect(await c.ping()).toBe('PONG');
    await expect(c.call('CONFIG', 'GET', 'maxmemory')).rejects.toThrow(/unknown command/i);
  });

  it('requires the password when one is set', async () => {
    const server = await start({ password: 's3cr3t' });
    expect(server.url).toBe(`redis://:s3cr3t@127.0.0.1:${server.port}/0`);

    const anonymous = client(`redis://127.0.0.1:${server.port}/0`);
    await anonymous.connect();
    await expect(anonymous.get('k')).rejects.toThrow(/NOAUTH/);

    const authed = client(server.url);
    await authed.connect();
    expect(await authed.set('k', 'v')).toBe('OK');
    expect(await authed.get('k')).toBe('v');
  });

  it('restart() comes back on the same port with a new process (and empty data)', async () => {
    const server = await start({ args: ['--maxmemory', '10mb'] });
    const { port, pid } = server;
    const before = client(server.url);
    await before.connect();
    await before.set('k', 'v');
    await before.quit();

    await server.restart();
    expect(server.port).toBe(port);
    expect(server.pid).not.toBe(pid);
    expect(pidAlive(pid)).toBe(false);

    const after = client(server.url);
    await after.connect();
    expect(await after.get('k')).toBeNull(); // no persistence
    expect(await after.call('CONFIG', 'GET', 'maxmemory')).toEqual(['maxmemory', String(10 * 1024 * 1024)]);
  });

  it('kill() stops the server abruptly', async () => {
    const server = await start();
    server.kill('SIGKILL');
    await server.stop();
    expect(pidAlive(server.pid)).toBe(false);
  });
});
