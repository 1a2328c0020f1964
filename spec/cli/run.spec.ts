import { describe, expect, it } from 'vitest';
import { query } from '../../src/index';
import { lockKeys } from '../../src/redis/keys';
import { within } from '../topology/topology';
import { eventually } from '../faults/fault-kit';
import { useCli, useLockServer } from './cli-kit';

const cli = useCli();
const redis = useLockServer(cli);

/** A command that says it runs (with its lock and fence), then waits; on SIGTERM it says so and exits 3 (or ignores it). */
function worker(onTerm: 'exit' | 'ignore' = 'exit'): string[] {
  const trap = onTerm === 'exit' ? 'trap "echo got TERM; exit 3" TERM' : 'trap "" TERM';
  return ['sh', '-c', `${trap}; echo "ready lock=$YADL_LOCK fence=$YADL_FENCE"; while :; do sleep 0.1; done`];
}

describe('yadl run', { timeout: 90_000 }, () => {
  it('runs the command with YADL_LOCK and YADL_FENCE, exits with its code and releases the lock', async () => {
    const p = redis.prefix();
    const { code, stdout, stderr } = await cli.run([
      'run', 'job', '--redis', redis.url(), '--prefix', p, '--',
      'sh', '-c', 'echo "lock=$YADL_LOCK fence=$YADL_FENCE"; exit 7',
    ]);
    expect(stderr).toBe('');
    expect(code).toBe(7);
    const fence = Number(/^lock=job fence=(\d+)$/m.exec(stdout)?.[1]);
    expect(fence).toBeGreaterThan(0);
    expect(await redis.admin().exists(lockKeys(p, 'job', 0).state)).toBe(0);
    // The next hold gets a greater fence.
    expect((await redis.held('job', { prefix: p })).fence).toBeGreaterThan(fence);
  });

  it('holds while the command runs, passes SIGTERM on to it and releases the lock when it exits', async () => {
    const p = redis.prefix();
    const yadl = cli.start(['run', 'job', '--redis', redis.url(), '--prefix', p, '--', ...worker()]);
    const fence = Number((await yadl.waitFor(/ready lock=job fence=(\d+)/))[1]);
    const holds = await query({ redis: redis.url(), prefix: p, kind: 'lock' });
    expect(holds.map((h) => [h.name, h.mode, h.fence])).toEqual([['job', 'write', fence]]);
    cli.forbid((await redis.admin().hget(lockKeys(p, 'job', 0).state, 'w')) ?? 'no token');

    const waiter = redis.hold('job', { prefix: p });
    yadl.kill('SIGTERM');
    const result = await within(yadl.exited, 15_000, 'yadl exited');
    expect(result).toMatchObject({ code: 3, stderr: '' });
    expect(result.stdout).toContain('got TERM');
    // Released, not left to expire: the waiter gets it long before the 30 s lease.
    await within(waiter.acquired, 5_000, 'the waiter acquired');
  });

  it('exits 128 + the signal number when a signal ends the command', async () => {
    const p = redis.prefix();
    const { code } = await cli.run(['run', 'job', '--redis', redis.url(), '--prefix', p, '--', 'sh', '-c', 'kill -KILL $$']);
    expect(code).toBe(128 + 9);
    expect(await redis.admin().exists(lockKeys(p, 'job', 0).state)).toBe(0);
  });

  it('stops the command and exits 76 when the hold is deleted from Redis', async () => {
    const p = redis.prefix();
    const yadl = cli.start(['run', 'job', '--redis', redis.url(), '--prefix', p, '--lease', '900', '--', ...worker()]);
    await yadl.waitFor(/ready/);
    await redis.admin().del(lockKeys(p, 'job', 0).state);
    const result = await within(yadl.exited, 15_000, 'yadl exited');
    expect(result.code).toBe(76);
    expect(result.stdout).toContain('got TERM');
    expect(result.stderr).toMatch(/lock 'job' was lost: Redis no longer records this owner.*stopping the command/);
  });

  it('SIGKILLs a command that ignores SIGTERM after --kill-after', async () => {
    const p = redis.prefix();
    const yadl = cli.start(['run', 'job', '--redis', redis.url(), '--prefix', p, '--lease', '900', '--kill-after', '300', '--', ...worker('ignore')]);
    await yadl.waitFor(/ready/);
    await redis.admin().del(lockKeys(p, 'job', 0).state);
    const result = await within(yadl.exited, 15_000, 'yadl exited');
    expect(result.code).toBe(76);
    expect(result.stderr).toMatch(/outlived SIGTERM by 300 ms: SIGKILL/);
  });

  it('stops the command and exits 76 when Redis stalls for longer than the lease', async () => {
    const p = redis.prefix();
    const admin = redis.admin();
    const yadl = cli.start(['run', 'job', '--redis', redis.url(), '--prefix', p, '--lease', '900', '--', ...worker()]);
    await yadl.waitFor(/ready/);
    await admin.call('CLIENT', 'PAUSE', '5000', 'ALL');
    const started = performance.now();
    try {
      const result = await within(yadl.exited, 15_000, 'yadl exited');
      expect(result.code).toBe(76);
      expect(result.stdout).toContain('got TERM');
      expect(result.stderr).toMatch(/could not be renewed in time/);
      // It gave up within the lease, not when Redis came back.
      expect(performance.now() - started).toBeLessThan(4_500);
    } finally {
      await admin.call('CLIENT', 'UNPAUSE');
    }
  });

  it('exits 75 without running the command when the lock is not acquired within --timeout', async () => {
    const p = redis.prefix();
    await redis.held('busy', { prefix: p });
    const { code, stdout, stderr } = await cli.run(['run', 'busy', '--redis', redis.url(), '--prefix', p, '--timeout', '300', '--', 'echo', 'ran']);
    expect(code).toBe(75);
    expect(stdout).toBe('');
    expect(stderr).toBe(`yadl: lock 'busy' (prefix '${p}') not acquired within 300 ms\n`);
  });

  it('shares the lock with other readers in --mode read, and waits for them in write mode', async () => {
    const p = redis.prefix();
    await redis.held('shared', { prefix: p, mode: 'read' });
    const read = await cli.run(['run', 'shared', '--redis', redis.url(), '--prefix', p, '--mode', 'read', '--timeout', '5000', '--', 'true']);
    expect(read.code).toBe(0);
    const write = await cli.run(['run', 'shared', '--redis', redis.url(), '--prefix', p, '--timeout', '300', '--', 'true']);
    expect(write.code).toBe(75);
  });

  it('labels its hold with --label, and waits in the fair line with --fair', async () => {
    const p = redis.prefix();
    const holder = redis.hold('line', { prefix: p });
    await within(holder.acquired, 10_000, 'held');
    const yadl = cli.start(['run', 'line', '--fair', '--label', 'nightly report', '--redis', redis.url(), '--prefix', p, '--', ...worker()]);
    // Its ticket is in the line.
    await eventually(async () => (await query({ redis: redis.url(), prefix: p, kind: 'lock' }))[0]?.waiting === 1, 20_000, 'yadl in the line');
    holder.unsubscribe();
    const fence = Number((await yadl.waitFor(/ready lock=line fence=(\d+)/))[1]);
    const holds = await query({ redis: redis.url(), prefix: p, kind: 'lock' });
    expect(holds.map((h) => [h.fence, h.label])).toEqual([[fence, 'nightly report']]);
    yadl.kill('SIGTERM');
    expect((await within(yadl.exited, 15_000, 'yadl exited')).code).toBe(3);
  });

  it('leaves the queue on SIGINT while waiting, and exits 130', async () => {
    const p = redis.prefix();
    const holder = await redis.held('busy', { prefix: p });
    const yadl = cli.start(['run', 'busy', '--redis', redis.url(), '--prefix', p, '--', 'echo', 'ran']);
    // Waiting once subscribed to the lock's channel (the holder is not).
    const admin = redis.admin();
    const channel = lockKeys(p, 'busy', 0).channel;
    const listeners = async (): Promise<number> => Number(((await admin.call('PUBSUB', 'NUMSUB', channel)) as [string, number])[1]);
    await eventually(async () => (await listeners()) === 1, 20_000, 'yadl waiting');
    yadl.kill('SIGINT');
    const result = await within(yadl.exited, 15_000, 'yadl exited');
    expect(result).toMatchObject({ code: 130, stdout: '' });
    expect((await query({ redis: redis.url(), prefix: p, kind: 'lock' })).map((h) => h.fence)).toEqual([holder.fence]);
  });

  it('exits 127 when the command does not exist, and releases the lock', async () => {
    const p = redis.prefix();
    const { code, stderr } = await cli.run(['run', 'job', '--redis', redis.url(), '--prefix', p, '--', 'no-such-command-yadl']);
    expect(code).toBe(127);
    expect(stderr).toMatch(/^yadl: cannot run 'no-such-command-yadl': .*ENOENT/);
    expect(await redis.admin().exists(lockKeys(p, 'job', 0).state)).toBe(0);
  });
});
