/**
 * While the leadership does not change, followers (candidates waiting) and
 * observers (leader$) send Redis nothing; the leader renews its lease.
 * Counted with MONITOR, by the keys of this test's prefix. Bad input sends
 * nothing and opens nothing.
 */
import type { Subscription } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { elect$, leader$, RedisElection } from '../../src/index';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { sleep, waitFor } from './holding';

const redis = useRedis();
let timersBefore = 0;
const subscriptions: Subscription[] = [];

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  for (const s of subscriptions.splice(0)) s.unsubscribe();
  await expectQuiescent(timersBefore);
});

/** Commands that touch keys under `prefix`, as MONITOR reports them, from now on. */
async function monitor(prefix: string): Promise<{ lines: string[]; stop: () => void }> {
  const client = redis.client();
  const monitoring = await client.monitor();
  const lines: string[] = [];
  monitoring.on('monitor', (_time: string, args: string[]) => {
    if (args.some((a) => a.startsWith(`${prefix}:`))) lines.push(args.join(' ').slice(0, 120));
  });
  return { lines, stop: () => monitoring.disconnect() };
}

describe('an idle election', () => {
  it('costs nothing from 3 followers and 2 observers while the leader stays', async () => {
    const prefix = redis.prefix();
    const opts = { redis: redis.url, prefix, lease: 30_000 };
    let leading = false;
    subscriptions.push(elect$('idle', opts).subscribe((t) => (leading ||= t !== null)));
    await waitFor(() => leading, 5_000, 'a leader');
    for (let i = 0; i < 3; i++) subscriptions.push(elect$('idle', opts).subscribe());
    for (let i = 0; i < 2; i++) subscriptions.push(leader$('idle', { redis: redis.url, prefix }).subscribe());
    await waitFor(() => diagnostics.waitQueues === 1, 5_000, 'the followers to wait');
    await sleep(300);
    const seen = await monitor(prefix);
    await sleep(2_500);
    const idle = seen.lines.length;
    // The monitor does see this election's commands: one read.
    await new RedisElection('idle', opts).leader();
    await waitFor(() => seen.lines.length > idle, 2_000, 'the read to show');
    seen.stop();
    // The leader renews every 10 s: at most one command in the window; nobody else sends anything.
    expect(idle, seen.lines.join('\n')).toBeLessThanOrEqual(1);
  });

  it('bad input throws before any I/O and opens nothing', async () => {
    const prefix = redis.prefix();
    const seen = await monitor(prefix);
    const before = { ...diagnostics };
    expect(() => elect$('', { redis: redis.url, prefix })).toThrow(RangeError);
    expect(() => elect$('n', { redis: redis.url, prefix, value: 'v'.repeat(4097) })).toThrow(RangeError);
    expect(() => elect$('n', { redis: redis.url, prefix, value: {} as string })).toThrow(TypeError);
    expect(() => elect$('n', { redis: redis.url, prefix, mode: 'read' } as object)).toThrow(/unknown option 'mode'/);
    expect(() => leader$('n', { redis: redis.url, prefix, lease: 5 } as object)).toThrow(TypeError);
    expect(() => new RedisElection('n', { redis: redis.url, prefix, value: 'v'.repeat(5000) })).toThrow(RangeError);
    const election = new RedisElection('n', { redis: redis.url, prefix });
    await expect(election.campaign({ timeout: 1.5 })).rejects.toThrow(RangeError);
    expect(diagnostics).toEqual(before);
    await sleep(100);
    seen.stop();
    expect(seen.lines).toEqual([]);
  });
});
