/**
 * Which `redis` options share one connection that yadl opens: equal plain
 * options do; options that differ, functions included (retryStrategy,
 * reconnectOnError...), do not.
 */
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { RedisOptions } from 'ioredis';
import { diagnostics } from '../../src/diagnostics';
import { openConnection, type Connection } from '../../src/redis/connection';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { startRedisServer, type RedisServerHandle } from '../support/redis-server';

let server: RedisServerHandle;
let timersBefore = 0;
const opened: Connection[] = [];

beforeAll(async () => {
  server = await startRedisServer();
});
afterAll(async () => {
  await server.stop();
});
beforeEach(() => {
  timersBefore = activeTimers();
});
afterEach(async () => {
  for (const c of opened.splice(0)) c.release();
  await expectQuiescent(timersBefore);
});

function open(options: RedisOptions): Connection {
  const connection = openConnection(options);
  opened.push(connection);
  return connection;
}

describe('owned connections', () => {
  it('options differing only in a function get connections of their own, each with its function', async () => {
    const calls: string[] = [];
    const base = { host: '127.0.0.1', port: server.port };
    const first = open({ ...base, retryStrategy: () => (calls.push('first'), null) });
    const second = open({ ...base, retryStrategy: () => (calls.push('second'), null) });
    const third = open({ ...base, reconnectOnError: () => false });
    expect(second).not.toBe(first);
    expect(third).not.toBe(first);
    expect(third).not.toBe(second);
    expect(diagnostics.ownedClients).toBe(3);
    // Each client kept its own function: ioredis calls it when the connection drops.
    await Promise.all([first, second].map((c) => c.client.ping()));
    for (const c of [first, second]) (c.client as { stream?: { destroy(): void } }).stream?.destroy();
    for (let i = 0; i < 100 && calls.length < 2; i++) await new Promise((resolve) => setTimeout(resolve, 10));
    expect(calls.sort()).toEqual(['first', 'second']);
  });

  it('equal plain options, in any key order, share one connection; so does the same function', async () => {
    const retryStrategy = (): number => 100;
    const a = open({ host: '127.0.0.1', port: server.port, db: 1, retryStrategy });
    const b = open({ retryStrategy, db: 1, port: server.port, host: '127.0.0.1' });
    const c = open({ host: '127.0.0.1', port: server.port, db: 2, retryStrategy });
    expect(b).toBe(a);
    expect(c).not.toBe(a);
    expect(diagnostics.ownedClients).toBe(2);
    expect(await a.client.ping()).toBe('PONG');
  });
});
