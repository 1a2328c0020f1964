/**
 * The fault proxy on a real redis-server, each fault observed the way yadl
 * would meet it: through an ioredis client connected to the proxy, with a
 * second client straight to the server to see what Redis actually ran.
 */
import { Redis, type RedisOptions } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { splitReplies, startFaultProxy, type FaultProxy } from './fault-proxy';
import { startRedisServer, type RedisServerHandle } from './redis-server';

const servers: RedisServerHandle[] = [];
const proxies: FaultProxy[] = [];
const clients: Redis[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.disconnect();
  await Promise.all(proxies.splice(0).map((p) => p.close()));
  await Promise.all(servers.splice(0).map((s) => s.stop()));
});

async function setUp(): Promise<{ server: RedisServerHandle; proxy: FaultProxy; direct: Redis }> {
  const server = await startRedisServer();
  servers.push(server);
  const proxy = await startFaultProxy(server);
  proxies.push(proxy);
  return { server, proxy, direct: client(server.url) };
}

function client(url: string, options: RedisOptions = {}): Redis {
  const c = new Redis(url, options);
  c.on('error', () => undefined); // cut connections are the point here
  clients.push(c);
  return c;
}

const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** Settles to what the promise did, and records whether it settled yet. */
function track<T>(promise: Promise<T>): { settled: () => boolean; result: Promise<{ value?: T; error?: unknown; at: number }> } {
  let done = false;
  const result = promise.then(
    (value) => ({ value, at: performance.now() }),
    (error: unknown) => ({ error, at: performance.now() }),
  );
  void result.then(() => (done = true));
  return { settled: () => done, result };
}

async function until(condition: () => boolean, withinMs: number, what: string): Promise<void> {
  const deadline = performance.now() + withinMs;
  while (!condition()) {
    if (performance.now() > deadline) throw new Error(`${what} not reached within ${withinMs} ms`);
    await sleep(5);
  }
}

async function timed<T>(run: () => Promise<T>): Promise<{ value: T; took: number }> {
  const started = performance.now();
  const value = await run();
  return { value, took: performance.now() - started };
}

describe('fault proxy', () => {
  it('passes commands and replies through and lists live connections in accept order', async () => {
    const { server, proxy } = await setUp();
    expect(proxy.url).toBe(`redis://127.0.0.1:${proxy.port}/0`);
    expect(proxy.host).toBe('127.0.0.1');
    expect(proxy.port).not.toBe(server.port);
    const first = client(proxy.url);
    await first.ping();
    const second = client(proxy.url);
    // A reply of about 1 MB comes in many TCP segments and must leave the proxy whole.
    const big = 'x'.repeat(1_000_000);
    await second.set('big', big);
    expect(await second.get('big')).toBe(big);
    expect(proxy.connections().map((c) => c.id)).toEqual([1, 2]);
    first.disconnect();
    await until(() => proxy.connections().length === 1, 2_000, 'the first connection gone');
    expect(proxy.connections().map((c) => c.id)).toEqual([2]);
  });

  it('delayReplies: each reply comes ms later, in order; 0 ends it; proxy-wide it also applies to later connections', async () => {
    const { proxy } = await setUp();
    const c = client(proxy.url);
    await c.ping();
    const [connection] = proxy.connections();
    connection!.delayReplies(300);
    const ping = await timed(() => c.ping());
    expect(ping.value).toBe('PONG');
    expect(ping.took).toBeGreaterThanOrEqual(300);
    const pipeline = await timed(() => Promise.all([c.set('k', '1'), c.incr('k'), c.get('k')]));
    expect(pipeline.value).toEqual(['OK', 2, '2']);
    expect(pipeline.took).toBeGreaterThanOrEqual(300);
    expect(pipeline.took).toBeLessThan(300 + 1_000); // one delay for the lot, not one each

    // Ending the delay does not let a later reply overtake one still delayed.
    const a = track(c.echo('a'));
    await sleep(50);
    connection!.delayReplies(0);
    const b = track(c.echo('b'));
    const [ra, rb] = await Promise.all([a.result, b.result]);
    expect([ra.value, rb.value]).toEqual(['a', 'b']);
    expect(rb.at).toBeGreaterThanOrEqual(ra.at);
    const undelayed = await timed(() => c.ping());
    expect(undelayed.took).toBeLessThan(250);

    proxy.delayReplies(200);
    const later = client(proxy.url);
    const laterPing = await timed(() => later.ping()); // its connection set-up is delayed too
    expect(laterPing.took).toBeGreaterThanOrEqual(200);
    expect((await timed(() => c.ping())).took).toBeGreaterThanOrEqual(200);
    proxy.delayReplies(0);
    expect((await timed(() => later.ping())).took).toBeLessThan(250);
  });

  it('holdReplies: Redis runs the commands, their replies come in order after releaseReplies', async () => {
    const { proxy, direct } = await setUp();
    const c = client(proxy.url);
    await c.ping();
    proxy.connections()[0]!.holdReplies();
    const replies = track(Promise.all([c.set('k', 'v'), c.get('k'), c.incr('n')]));
    await sleep(300);
    expect(replies.settled()).toBe(false);
    expect(await direct.get('n')).toBe('1'); // requests went through
    proxy.connections()[0]!.releaseReplies();
    expect((await replies.result).value).toEqual(['OK', 'v', 1]);

    // Proxy-wide, a connection accepted later is held from its first reply: ioredis never gets ready.
    proxy.holdReplies();
    const later = client(proxy.url);
    await sleep(300);
    expect(later.status).not.toBe('ready');
    expect(proxy.connections().map((x) => x.id)).toEqual([1, 2]);
    proxy.releaseReplies();
    expect(await later.ping()).toBe('PONG');
  });

  it('dropReplies: the command whose reply is swallowed times out (commandTimeout), Redis ran it, and the stream stays whole', async () => {
    const { proxy, direct } = await setUp();
    const c = client(proxy.url, { commandTimeout: 300 });
    await c.ping();
    proxy.connections()[0]!.dropReplies(1);
    const lost = await timed(() => c.incr('n').catch((e: unknown) => e));
    expect(lost.value).toBeInstanceOf(Error);
    expect((lost.value as Error).message).toBe('Command timed out');
    expect(lost.took).toBeGreaterThanOrEqual(290);
    expect(await direct.get('n')).toBe('1');
    // ioredis pairs replies with commands by position and keeps the timed-out
    // INCR queued, so the next reply (b's) goes to it, and b gets c's reply:
    // exactly one whole reply was swallowed, and the ones after it are intact.
    const [b, cc] = await Promise.all([c.echo('b').catch((e: unknown) => e), c.echo('c').catch((e: unknown) => e)]);
    expect(b).toBe('c');
    expect((cc as Error).message).toBe('Command timed out');
  });

  it('dropReplies: a swallowed pub/sub message is missing, the next one arrives', async () => {
    const { proxy, direct } = await setUp();
    const sub = client(proxy.url);
    const messages: string[] = [];
    sub.on('message', (_channel: string, message: string) => messages.push(message));
    await sub.subscribe('ch');
    proxy.connections()[0]!.dropReplies(1);
    await direct.publish('ch', 'm1');
    await direct.publish('ch', 'm2');
    await until(() => messages.length > 0, 2_000, 'a message');
    await direct.publish('ch', 'm3');
    await until(() => messages.length > 1, 2_000, 'another message');
    expect(messages).toEqual(['m2', 'm3']);
  });

  it('cut: both sockets close, Redis drops the client, ioredis reconnects through the proxy as a new connection', async () => {
    const { proxy, direct } = await setUp();
    const c = client(proxy.url, { connectionName: 'victim' });
    await c.ping();
    const closed = new Promise<void>((resolve) => c.once('close', () => resolve()));
    proxy.connections()[0]!.cut();
    await closed;
    expect(await c.ping()).toBe('PONG');
    expect(proxy.connections().map((x) => x.id)).toEqual([2]);
    const victims = async (): Promise<number> => ((await direct.client('LIST')) as string).split('\n').filter((l) => l.includes('name=victim')).length;
    expect(await victims()).toBe(1);

    const other = client(proxy.url);
    await other.ping();
    const reconnected = new Promise<void>((resolve) => other.once('ready', () => resolve()));
    proxy.cutAll();
    expect(proxy.connections()).toEqual([]);
    await reconnected;
    expect(await Promise.all([c.ping(), other.ping()])).toEqual(['PONG', 'PONG']);
    expect(proxy.connections().map((x) => x.id).sort()).toEqual([4, 5].sort());
  });

  it('freeze: nothing passes in either direction until thaw, which delivers what was held in order', async () => {
    const { proxy, direct } = await setUp();
    const c = client(proxy.url);
    await c.ping();
    proxy.freeze();
    const replies = track(Promise.all([c.incr('n'), c.incr('n')]));
    await sleep(300);
    expect(await direct.get('n')).toBeNull(); // the requests are held too
    expect(replies.settled()).toBe(false);
    proxy.thaw();
    expect((await replies.result).value).toEqual([1, 2]);
  });

  it('close: every connection is cut and the port no longer accepts', async () => {
    const { proxy } = await setUp();
    const c = client(proxy.url, { retryStrategy: () => null });
    await c.ping();
    const ended = new Promise<void>((resolve) => c.once('end', () => resolve()));
    await proxy.close();
    await ended;
    const refused = client(proxy.url, { retryStrategy: () => null, maxRetriesPerRequest: 0 });
    await expect(refused.ping()).rejects.toThrow();
  });
});

describe('splitReplies', () => {
  const replies = [
    '+OK\r\n',
    '-ERR wrong\r\n',
    ':42\r\n',
    '$-1\r\n',
    '$6\r\na\r\nb\r\n\r\n', // CRLF inside a bulk string
    '*-1\r\n',
    '*0\r\n',
    '*3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$2\r\nm1\r\n', // a pub/sub message
    '*2\r\n*2\r\n:1\r\n$1\r\nx\r\n*1\r\n+y\r\n', // nested
    '%1\r\n+k\r\n:1\r\n', // RESP3 map
    '|1\r\n+ttl\r\n:3\r\n$1\r\nv\r\n', // an attribute and the value it annotates
    '>3\r\n+message\r\n+ch\r\n+m\r\n', // RESP3 push
    '_\r\n',
    ',1.5\r\n',
    '#t\r\n',
    '=7\r\ntxt:abc\r\n',
  ];

  it('cuts a stream into whole replies however it is split into chunks', () => {
    const stream = Buffer.from(replies.join(''));
    for (const chunk of [1, 2, 3, 7, stream.length]) {
      const seen: string[] = [];
      let rest: Buffer = Buffer.alloc(0);
      for (let at = 0; at < stream.length; at += chunk) {
        const split = splitReplies(Buffer.concat([rest, stream.subarray(at, at + chunk)]));
        seen.push(...split.replies.map((r) => r.toString()));
        rest = split.rest;
      }
      expect(seen, `chunks of ${chunk} bytes`).toEqual(replies);
      expect(rest.length).toBe(0);
    }
  });

  it('refuses bytes that are not RESP', () => {
    expect(() => splitReplies(Buffer.from('hello\r\n'))).toThrow(/not a RESP reply/);
  });
});
