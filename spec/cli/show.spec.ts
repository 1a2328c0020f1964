import { describe, expect, it } from 'vitest';
import type { LockDetails } from '../../src/admin/query';
import { eventually } from '../faults/fault-kit';
import { query } from '../../src/index';
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
});
