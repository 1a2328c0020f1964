import { describe, expect, it } from 'vitest';
import { lockKeys } from '../../src/redis/keys';
import { within } from '../topology/topology';
import { useCli, useLockServer } from './cli-kit';

const cli = useCli();
const redis = useLockServer(cli);

describe('yadl watch', { timeout: 90_000 }, () => {
  it('prints acquisitions and releases as they happen, and who holds the lock now', async () => {
    const p = redis.prefix();
    const watch = cli.start(['watch', 'job', '--redis', redis.url(), '--prefix', p]);
    await watch.waitFor(/watching lock 'job'.*Ctrl-C to stop/, 'stderr');
    await watch.waitFor(/now\s+free\n/);

    const first = redis.hold('job', { prefix: p });
    const lease = await within(first.acquired, 10_000, 'held');
    cli.forbid(lease.token);
    await watch.waitFor(new RegExp(`acquired  write  fence ${lease.fence}  expires in `));
    await watch.waitFor(new RegExp(`now       write  fence ${lease.fence}`));

    // Handed over to a waiter in the fair line (the release publishes a grant): a release and an acquisition.
    const second = redis.hold('job', { prefix: p, fair: true });
    first.unsubscribe();
    const next = await within(second.acquired, 10_000, 'handed over');
    cli.forbid(next.token);
    await watch.waitFor(new RegExp(`released  write  fence ${lease.fence}\\n`));
    await watch.waitFor(new RegExp(`acquired  write  fence ${next.fence}`));
    second.unsubscribe();
    await watch.waitFor(new RegExp(`released  write  fence ${next.fence}\\n[^\\n]*now\\s+free`));

    watch.kill('SIGINT');
    expect((await within(watch.exited, 10_000, 'watch ended')).code).toBe(0);
  });

  it('tells expiries and losses apart, and prints JSON lines with --json', async () => {
    const p = redis.prefix();
    const watch = cli.start(['watch', 'job', '--json', '--redis', redis.url(), '--prefix', p, '--interval', '100']);
    await watch.waitFor(/"event":"now"/);

    const fixed = await redis.held('job', { prefix: p, ttl: 2_000 });
    await watch.waitFor(new RegExp(`"event":"expired","hold":\\{[^}]*"fence":${fixed.fence}`), 'stdout', 15_000);

    const deleted = await redis.held('job', { prefix: p, lease: 30_000 });
    await watch.waitFor(new RegExp(`"event":"acquired","hold":\\{[^}]*"fence":${deleted.fence}`));
    await redis.admin().del(lockKeys(p, 'job', 0).state);
    await watch.waitFor(new RegExp(`"event":"lost","hold":\\{[^}]*"fence":${deleted.fence}`));

    watch.kill('SIGTERM');
    const result = await within(watch.exited, 10_000, 'watch ended');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n');
    for (const line of lines) expect(() => JSON.parse(line) as unknown, line).not.toThrow();
    expect(lines.map((l) => (JSON.parse(l) as { event: string }).event)).toEqual(['now', 'acquired', 'now', 'expired', 'now', 'acquired', 'now', 'lost', 'now']);
  });
});
