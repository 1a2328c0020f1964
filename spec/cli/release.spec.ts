import { describe, expect, it } from 'vitest';
import { commandHelp } from '../../src/cli/args';
import { releaseCommand } from '../../src/cli/release';
import { LockLostError, query, semaphore$ } from '../../src/index';
import { within } from '../topology/topology';
import { useCli, useLockServer } from './cli-kit';

const cli = useCli();
const redis = useLockServer(cli);

describe('yadl release --force', { timeout: 90_000 }, () => {
  it('frees the lock from its holder and wakes a waiter at once', async () => {
    const p = redis.prefix();
    // A long lease: the waiter's own retry would come at its expiry, 30 s out.
    const holder = redis.hold('job', { prefix: p, lease: 30_000 });
    const lease = await within(holder.acquired, 10_000, 'held');
    cli.forbid(lease.token);
    const waiter = redis.hold('job', { prefix: p, lease: 30_000 });

    const { code, stdout, stderr } = await cli.run(['release', 'job', '--force', '--yes', '--redis', redis.url(), '--prefix', p]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    expect(stdout).toMatch(new RegExp(`^released lock 'job' \\(prefix '${p}'\\); its waiters were woken\\. It was held by:\\n  write  fence ${lease.fence}  expires in `));
    // Woken by the release: the holder renews, and its hold would not have run out for 30 s.
    const next = await within(waiter.acquired, 5_000, 'the waiter acquired');
    expect(next.fence).toBeGreaterThan(lease.fence);
    // The old holder finds out at its next renewal (every 10 s).
    const ending = await within(holder.ended, 15_000, 'the holder told');
    expect(ending.kind === 'error' && ending.error instanceof LockLostError && ending.error.reason).toBe('gone');
  });

  it('asks for confirmation on a terminal, and leaves the lock alone unless told yes', async () => {
    const p = redis.prefix();
    const lease = await redis.held('job', { prefix: p });
    const no = await cli.run(['release', 'job', '--force', '--redis', redis.url(), '--prefix', p], { tty: true, input: 'n\n' });
    expect(no.code).toBe(1);
    expect(no.stdout).toMatch(/force-release lock 'job'.*held by:/s);
    expect(no.stdout).toMatch(/release it\? \[y\/N\]/);
    expect(no.stdout).toContain('left as it is');
    expect((await query({ redis: redis.url(), prefix: p, kind: 'lock' })).map((h) => h.fence)).toEqual([lease.fence]);

    const yes = await cli.run(['release', 'job', '--force', '--redis', redis.url(), '--prefix', p], { tty: true, input: 'y\n' });
    expect(yes.code).toBe(0);
    expect(yes.stdout).toContain(`released lock 'job'`);
    expect(await query({ redis: redis.url(), prefix: p })).toEqual([]);
  });

  it('refuses without a terminal and without --yes, and without --force (exit 2)', async () => {
    const p = redis.prefix();
    const lease = await redis.held('job', { prefix: p });
    const noTty = await cli.run(['release', 'job', '--force', '--redis', redis.url(), '--prefix', p]);
    expect(noTty).toMatchObject({ code: 2, stdout: '' });
    expect(noTty.stderr).toBe("yadl: stdin is not a terminal, so there is no one to confirm: add --yes (see 'yadl release --help')\n");
    const noForce = await cli.run(['release', 'job', '--yes', '--redis', redis.url(), '--prefix', p]);
    expect(noForce.code).toBe(2);
    expect(noForce.stderr).toMatch(/needs --force|with --force/);
    expect((await query({ redis: redis.url(), prefix: p, kind: 'lock' })).map((h) => h.fence)).toEqual([lease.fence]);
  });

  it('says when the lock is not held (exit 1), and prints JSON with --json', async () => {
    const p = redis.prefix();
    const free = await cli.run(['release', 'nothing', '--force', '--yes', '--redis', redis.url(), '--prefix', p]);
    expect(free).toMatchObject({ code: 1, stdout: '', stderr: `yadl: lock 'nothing' (prefix '${p}') is not held\n` });

    const readers = [await redis.held('shared', { prefix: p, mode: 'read' }), await redis.held('shared', { prefix: p, mode: 'read' })];
    const { code, stdout } = await cli.run(['release', 'shared', '--force', '--yes', '--json', '--redis', redis.url(), '--prefix', p]);
    expect(code).toBe(0);
    const result = JSON.parse(stdout) as { name: string; released: boolean; holds: { fence: number; mode: string }[] };
    expect(result).toMatchObject({ name: 'shared', prefix: p, released: true });
    expect(result.holds.map((h) => [h.mode, h.fence])).toEqual(readers.map((r) => ['read', r.fence]));
  });

  it("frees locks only: a semaphore of the lock's name is left alone", async () => {
    const p = redis.prefix();
    const grant = await within(redis.track(semaphore$('pool', { redis: redis.url(), prefix: p, limit: 2 })).acquired, 10_000, 'held');
    cli.forbid(grant.token);
    const asLock = await cli.run(['release', 'pool', '--force', '--yes', '--redis', redis.url(), '--prefix', p]);
    expect(asLock).toMatchObject({ code: 1, stderr: `yadl: lock 'pool' (prefix '${p}') is not held\n` });
    expect((await query({ redis: redis.url(), prefix: p })).map((h) => h.kind)).toEqual(['semaphore']);
    // --kind semaphore and election are refused before any I/O: spec/cli/args.spec.ts.
    expect(commandHelp(releaseCommand)).toContain("Locks only (a multi-lock is one lock per name): a semaphore's permits come back");
  });
});
