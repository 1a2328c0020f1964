/**
 * NODE_DEBUG=yadl, captured from a child process on a private redis-server:
 * attempts, wake-ups, renewals, a subscriber reconnect, a release and a loss
 * are traced, and no owner token (of its leases, or any sent to Redis) is.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { useFaultKit, within } from '../faults/fault-kit';
import { spawnWorker, type WorkerProcess } from '../support/workers/spawn-worker';
import { monitorTokens, TOKEN } from './observe';

const kit = useFaultKit();
const workers: WorkerProcess[] = [];
afterEach(async () => {
  for (const w of workers.splice(0)) {
    w.kill();
    await w.exited;
  }
});

// Starting tsx in a child on a loaded machine takes seconds.
describe('NODE_DEBUG=yadl', { timeout: 120_000 }, () => {
  it('traces attempts, wake-ups, renewals, a subscriber reconnect, a release and a loss, without a token', async () => {
    const server = await kit.server();
    const seen = await monitorTokens(server.url);
    const worker = spawnWorker('../../observability/workers/debug-worker.ts', { REDIS_URL: server.url, PREFIX: 'dbg', NODE_DEBUG: 'yadl' });
    workers.push(worker);
    let stderr: string;
    let tokens: string[];
    try {
      tokens = (await worker.message((m) => Array.isArray(m.tokens), 90_000)).tokens as string[];
      await worker.message((m) => m.done === true, 20_000);
      expect(await within(worker.exited, 20_000, 'the worker to exit')).toEqual({ code: 0, signal: null });
      stderr = worker.stderr();
    } finally {
      await seen.stop();
    }

    const pid = worker.child.pid;
    const lines = stderr.split('\n').filter((line) => line.startsWith(`YADL ${pid}: `));
    const has = (pattern: RegExp): boolean => lines.some((line) => pattern.test(line));
    const dbg = "lock 'dbg' \\(prefix 'dbg'\\) write";
    expect(has(new RegExp(`${dbg}: acquisition started`)), stderr).toBe(true);
    expect(has(new RegExp(`${dbg}: attempt acquired, fence \\d+, \\d+ ms left`)), stderr).toBe(true);
    expect(has(new RegExp(`${dbg}: attempt blocked, deadline retry in \\d+ ms`)), stderr).toBe(true);
    expect(lines.filter((line) => new RegExp(`${dbg}: renewal done, \\d+ ms left`).test(line)).length, stderr).toBeGreaterThanOrEqual(2);
    expect(has(/wake-up on __keyspace@0__:dbg:lock:\{dbg\}: subscribed/), stderr).toBe(true);
    expect(has(/wake-up on __keyspace@0__:dbg:lock:\{dbg\}: (own release answered|release)$/), stderr).toBe(true);
    expect(has(new RegExp(`subscriber 127\\.0\\.0\\.1:${server.port}: connection lost`)), stderr).toBe(true);
    expect(has(new RegExp(`subscriber 127\\.0\\.0\\.1:${server.port}: reconnected, resubscribing 1 channels`)), stderr).toBe(true);
    expect(has(/wake-up on __keyspace@0__:dbg:lock:\{dbg\}: resubscribed/), stderr).toBe(true);
    expect(has(new RegExp(`${dbg}: released, fence \\d+`)), stderr).toBe(true);
    expect(has(new RegExp(`${dbg}: granted after \\d+ ms, fence \\d+`)), stderr).toBe(true);
    expect(has(/lock 'dbg-ttl' \(prefix 'dbg'\) write: lost \(expired\), fence \d+/), stderr).toBe(true);
    expect(has(/notify-keyspace-events is '.*K.*'/), stderr).toBe(true);

    expect(tokens).toHaveLength(3);
    for (const token of [...tokens, ...seen.tokens]) expect(stderr).not.toContain(token);
    expect(stderr.match(TOKEN) ?? []).toEqual([]);
  });
});
