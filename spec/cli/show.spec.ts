import { describe, expect, it } from 'vitest';
import type { LockDetails } from '../../src/admin/query';
import { eventually } from '../faults/fault-kit';
import { elect$, query, semaphore$, type Term } from '../../src/index';
import type { ElectionDetails, SemaphoreDetails } from '../../src/admin/query';
import { within } from '../topology/topology';
import { useCli, useLockServer } from './cli-kit';
import { hostname } from 'node:os';

const cli = useCli();
const redis = useLockServer(cli);
const label = `${hostname()}:${process.pid}`.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe('yadl show', { timeout: 90_000 }, () => {
  it('shows the holders, the writers waiting for them, the listening processes and the ttl', async () => {
    const p = redis.prefix();
    const readers = [
      await redis.held('shared', { prefix: p, mode: 'read', lease: 20_000 }),
      await redis.held('shared', { prefix: p, mode: 'read', lease: 20_000 }),
    ];
    redis.hold('shared', { prefix: p });
    await eventually(async () => (await query({ redis: redis.url(), prefix: p, kind: 'lock' }))[0]?.waiting === 1, 10_000, 'the writer queued');

    const { code, stdout, stderr } = await cli.run(['show', 'shared', '--redis', redis.url(), '--prefix', p]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`lock       'shared' (prefix '${p}')`);
    expect(lines[1]).toMatch(new RegExp(`^held by    read   fence ${readers[0]!.fence}  expires in \\d+\\.\\ds  held for \\d+\\S*  label ${label}$`));
    expect(lines[2]).toMatch(new RegExp(`^           read   fence ${readers[1]!.fence}  expires in `));
    expect(lines[3]).toMatch(/^waiting {4}1 recorded \(writers waiting for readers, tickets in the fair line\)/);
    expect(lines[4]).toBe('listening  1 process on its channel (waiting or watching)');
    expect(lines[5]).toMatch(/^key ttl {4}\d+\.\ds$/);

    const json = await cli.run(['show', 'shared', '--json', '--redis', redis.url(), '--prefix', p]);
    const details = JSON.parse(json.stdout) as LockDetails;
    expect(details).toMatchObject({ name: 'shared', prefix: p, waiting: 1, listeners: 1 });
    expect(details.holds.map((h) => [h.mode, h.fence])).toEqual(readers.map((r) => ['read', r.fence]));
    expect(details.keyTtlMs).toBeGreaterThan(5_000);
  });

  it('says when the lock is not held (exit 1)', async () => {
    const p = redis.prefix();
    const result = await cli.run(['show', 'free', '--redis', redis.url(), '--prefix', p]);
    expect(result).toMatchObject({ code: 1, stdout: '', stderr: `yadl: lock 'free' (prefix '${p}') is not held\n` });
  });

  it('shows a semaphore with --kind semaphore: limit, grants, fair line, listeners, ttl', async () => {
    const p = redis.prefix();
    const grant = await within(redis.track(semaphore$('pool', { redis: redis.url(), prefix: p, limit: 3, permits: 2, lease: 20_000 })).acquired, 10_000, 'held');
    cli.forbid(grant.token);
    redis.track(semaphore$('pool', { redis: redis.url(), prefix: p, permits: 2, fair: true }));
    await eventually(async () => (await query({ redis: redis.url(), prefix: p, kind: 'semaphore' }))[0]?.waiting === 1, 10_000, 'a ticket');

    const { code, stdout, stderr } = await cli.run(['show', 'pool', '--kind', 'semaphore', '--redis', redis.url(), '--prefix', p]);
    expect(stderr).toBe('');
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`semaphore  'pool' (prefix '${p}')`);
    expect(lines[1]).toBe('limit      3  (2 held, 1 free)');
    expect(lines[2]).toMatch(new RegExp(`^held by    2 permits  fence ${grant.fence}  expires in \\d+\\.\\ds  held for \\d+\\S*  label ${label}$`));
    expect(lines[3]).toMatch(/^waiting {4}1 recorded \(tickets in the fair line\)/);
    expect(lines[4]).toBe('listening  1 process on its channel (waiting or watching)');
    expect(lines[5]).toMatch(/^key ttl {4}\d+m\d+s$/);

    const json = JSON.parse((await cli.run(['show', 'pool', '--kind', 'semaphore', '--json', '--redis', redis.url(), '--prefix', p])).stdout) as SemaphoreDetails;
    expect(json).toMatchObject({ name: 'pool', kind: 'semaphore', limit: 3, held: 2, waiting: 1, listeners: 1 });
    expect(json.holders.map((h) => [h.permits, h.fence])).toEqual([[2, grant.fence]]);
  });

  it('shows an election with --kind election: leader, term, ttl', async () => {
    const p = redis.prefix();
    const term = (await within(redis.track(elect$('cron', { redis: redis.url(), prefix: p, value: 'host-a:8080', lease: 20_000 })).acquired, 10_000, 'elected')) as Term;
    const { code, stdout } = await cli.run(['show', 'cron', '--kind', 'election', '--redis', redis.url(), '--prefix', p]);
    expect(code).toBe(0);
    const lines = stdout.trimEnd().split('\n');
    expect(lines[0]).toBe(`election   'cron' (prefix '${p}')`);
    expect(lines[1]).toBe('leader     host-a:8080');
    expect(lines[2]).toMatch(new RegExp(`^term       fence ${term.fence}  expires in \\d+\\.\\ds  value proclaimed 0 times$`));
    expect(lines[4]).toMatch(/^key ttl {4}\d+\.\ds$/);
    const json = JSON.parse((await cli.run(['show', 'cron', '--kind', 'election', '--json', '--redis', redis.url(), '--prefix', p])).stdout) as ElectionDetails;
    expect(json).toMatchObject({ name: 'cron', kind: 'election', leader: { value: 'host-a:8080', fence: term.fence } });
  });

  it('says when a semaphore is not held or an election has no leader (exit 1)', async () => {
    const p = redis.prefix();
    const idle = redis.track(semaphore$('idle', { redis: redis.url(), prefix: p, limit: 4 }));
    await within(idle.acquired, 10_000, 'held');
    idle.unsubscribe();
    await eventually(async () => (await query({ redis: redis.url(), prefix: p })).length === 0, 5_000, 'released');
    const semaphore = await cli.run(['show', 'idle', '--kind', 'semaphore', '--redis', redis.url(), '--prefix', p]);
    expect(semaphore).toMatchObject({ code: 1, stdout: '', stderr: `yadl: semaphore 'idle' (prefix '${p}') is not held (limit 4)\n` });
    const election = await cli.run(['show', 'cron', '--kind', 'election', '--redis', redis.url(), '--prefix', p]);
    expect(election).toMatchObject({ code: 1, stdout: '', stderr: `yadl: election 'cron' (prefix '${p}') has no leader\n` });
  });
});
