import { describe, expect, it } from 'vitest';
import { hostname } from 'node:os';
import { elect$, semaphore$, type HoldInfo, type LockHoldInfo, type Term } from '../../src/index';
import { within } from '../topology/topology';
import { useCli, useLockServer } from './cli-kit';

const cli = useCli();
const redis = useLockServer(cli);
const label = `${hostname()}:${process.pid}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('yadl ls', { timeout: 90_000 }, () => {
  it('prints a table of the live holds under a prefix', async () => {
    const p = redis.prefix();
    const writer = await redis.held('orders-42', { prefix: p });
    const readers = [await redis.held('report', { prefix: p, mode: 'read' }), await redis.held('report', { prefix: p, mode: 'read' })];
    await redis.held('elsewhere', { prefix: `${p}-x` });

    const { code, stdout, stderr } = await cli.run(['ls', '--redis', redis.url(), '--prefix', p]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+KIND\s+MODE\s+LABEL\s+FENCE\s+HELD FOR\s+EXPIRES IN$/);
    expect(lines).toHaveLength(4);
    expect(lines[1]).toMatch(new RegExp(`^orders-42\\s+lock\\s+write\\s+${label}\\s+${writer.fence}\\s+\\d+\\S*\\s+\\d+\\.\\ds$`));
    for (const [i, reader] of readers.entries()) {
      expect(lines[2 + i]).toMatch(new RegExp(`^report\\s+lock\\s+read\\s+${label}\\s+${reader.fence}\\s`));
    }
    expect(stdout).not.toContain('elsewhere');
  });

  it('prints JSON with --json, takes REDIS_URL and options before the command, and filters with --match', async () => {
    const p = redis.prefix();
    const leases = await Promise.all(['job-1', 'job-2', 'other'].map((name) => redis.held(name, { prefix: p, lease: 20_000 })));
    const { code, stdout } = await cli.run(['--prefix', p, 'ls', '--json', '--match', 'job-*'], { env: { REDIS_URL: redis.url() } });
    expect(code).toBe(0);
    const holds = JSON.parse(stdout) as LockHoldInfo[];
    expect(holds).toEqual(
      leases.slice(0, 2).map((lease) => ({
        name: lease.name,
        prefix: p,
        kind: 'lock',
        mode: 'write',
        fence: lease.fence,
        label: `${hostname()}:${process.pid}`,
        since: expect.any(Number) as number,
        expiresInMs: expect.any(Number) as number,
        waiting: 0,
      })),
    );
    for (const hold of holds) expect(hold.expiresInMs).toBeGreaterThan(5_000);
  });

  it('says so when nothing is held, and prints [] with --json', async () => {
    const p = redis.prefix();
    const text = await cli.run(['ls', '--redis', redis.url(), '--prefix', p]);
    expect(text).toMatchObject({ code: 0, stdout: `no live holds under prefix '${p}'\n`, stderr: '' });
    const json = await cli.run(['ls', '--redis', redis.url(), '--prefix', p, '--json']);
    expect(json).toMatchObject({ code: 0, stdout: '[]\n' });
  });

  it('shows names with control characters escaped, on one line each', async () => {
    const p = redis.prefix();
    await redis.held('evil\n\u001b[31mred', { prefix: p });
    const { code, stdout } = await cli.run(['ls', '--redis', redis.url(), '--prefix', p]);
    expect(code).toBe(0);
    expect(stdout).not.toContain('\u001b');
    expect(stdout.trimEnd().split('\n')).toHaveLength(2);
    expect(stdout).toContain('evil\\u{a}\\u{1b}[31mred');
  });

  it('lists semaphore grants and election leaders with their KIND, and filters with --kind', async () => {
    const p = redis.prefix();
    const lock = await redis.held('jobs', { prefix: p });
    const grants = [
      await within(redis.track(semaphore$('pool', { redis: redis.url(), prefix: p, limit: 5, permits: 2, label: 'batch' })).acquired, 10_000, 'two'),
      await within(redis.track(semaphore$('pool', { redis: redis.url(), prefix: p, permits: 1 })).acquired, 10_000, 'one'),
    ];
    for (const grant of grants) cli.forbid(grant.token);
    const term = (await within(redis.track(elect$('cron', { redis: redis.url(), prefix: p, value: 'host-a:8080' })).acquired, 10_000, 'elected')) as Term;

    const { code, stdout, stderr } = await cli.run(['ls', '--redis', redis.url(), '--prefix', p]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toMatch(/^NAME\s+KIND\s+MODE\s+LABEL\s+FENCE\s+HELD FOR\s+EXPIRES IN$/);
    expect(lines.slice(1)).toHaveLength(4);
    expect(lines[1]).toMatch(new RegExp(`^cron\\s+election\\s+leader\\s+host-a:8080\\s+${term.fence}\\s+-\\s+\\d+\\.\\ds$`));
    expect(lines[2]).toMatch(new RegExp(`^jobs\\s+lock\\s+write\\s+${label}\\s+${lock.fence}\\s`));
    expect(lines[3]).toMatch(new RegExp(`^pool\\s+semaphore\\s+2 of 5\\s+batch\\s+${grants[0]!.fence}\\s+\\d+\\S*\\s+\\d+\\.\\ds$`));
    expect(lines[4]).toMatch(new RegExp(`^pool\\s+semaphore\\s+1 of 5\\s+${label}\\s+${grants[1]!.fence}\\s`));

    const json = await cli.run(['ls', '--redis', redis.url(), '--prefix', p, '--kind', 'semaphore', '--json']);
    expect(json.code).toBe(0);
    const holds = JSON.parse(json.stdout) as HoldInfo[];
    expect(holds).toMatchObject([{ name: 'pool', kind: 'semaphore', limit: 5, held: 3, waiting: 0 }]);
    const elections = await cli.run(['ls', '--redis', redis.url(), '--prefix', p, '--kind', 'election']);
    expect(elections.stdout.trimEnd().split('\n').slice(1)).toEqual([expect.stringMatching(/^cron\s+election\s+leader\s/)]);
    const none = await cli.run(['ls', '--redis', redis.url(), '--prefix', p, '--kind', 'election', '--match', 'x*']);
    expect(none).toMatchObject({ code: 0, stdout: `no live elections under prefix '${p}' matching 'x*'\n` });
  });
});
