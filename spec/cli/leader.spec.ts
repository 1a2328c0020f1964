import { describe, expect, it } from 'vitest';
import { elect$, type ElectionInfo, type Term } from '../../src/index';
import { within } from '../topology/topology';
import { useCli, useLockServer } from './cli-kit';

const cli = useCli();
const redis = useLockServer(cli);

describe('yadl leader', { timeout: 90_000 }, () => {
  it('prints the current leader (text and --json), and exits 1 when nobody leads', async () => {
    const p = redis.prefix();
    const none = await cli.run(['leader', 'cron', '--redis', redis.url(), '--prefix', p]);
    expect(none).toMatchObject({ code: 1, stdout: '', stderr: `yadl: election 'cron' (prefix '${p}') has no leader\n` });

    const term = (await within(redis.track(elect$('cron', { redis: redis.url(), prefix: p, value: 'host-a:8080', lease: 20_000 })).acquired, 10_000, 'elected')) as Term;
    const text = await cli.run(['leader', 'cron', '--redis', redis.url(), '--prefix', p]);
    expect(text.stderr).toBe('');
    expect(text.code).toBe(0);
    expect(text.stdout).toMatch(new RegExp(`^term ${term.fence}  expires in \\d+\\.\\ds  value host-a:8080\\n$`));
    const json = await cli.run(['leader', 'cron', '--json', '--redis', redis.url(), '--prefix', p]);
    expect(JSON.parse(json.stdout)).toEqual<ElectionInfo>({
      name: 'cron',
      prefix: p,
      kind: 'election',
      value: 'host-a:8080',
      fence: term.fence,
      expiresInMs: expect.any(Number) as number,
      proclaims: 0,
    });
  });

  it('--watch prints the leader now, then every term, proclaim and end, until Ctrl-C', async () => {
    const p = redis.prefix();
    const watch = cli.start(['leader', 'cron', '--watch', '--redis', redis.url(), '--prefix', p]);
    await watch.waitFor(/watching election 'cron'.*Ctrl-C to stop/, 'stderr');
    await watch.waitFor(/none {4}nobody leads\n/);

    const a = redis.track(elect$('cron', { redis: redis.url(), prefix: p, value: 'a', lease: 20_000 }));
    const first = (await within(a.acquired, 10_000, 'a elected')) as Term;
    await watch.waitFor(new RegExp(`leader  term ${first.fence}  value a\\n`));
    await first.proclaim('a2');
    await watch.waitFor(new RegExp(`leader  term ${first.fence}  value a2\\n`));

    // A second candidate takes over when the first resigns.
    const b = redis.track(elect$('cron', { redis: redis.url(), prefix: p, value: 'b', lease: 20_000 }));
    await first.resign();
    const second = (await within(b.acquired, 10_000, 'b elected')) as Term;
    // a's candidacy ends too: else a leads again once its handoffGrace is over, and that term would be printed.
    a.unsubscribe();
    await watch.waitFor(new RegExp(`leader  term ${second.fence}  value b\\n`));
    b.unsubscribe();
    await watch.waitFor(new RegExp(`term ${second.fence}  value b\\n[^\\n]*none {4}nobody leads\\n`));

    watch.kill('SIGINT');
    const result = await within(watch.exited, 10_000, 'watch ended');
    expect(result.code).toBe(0);
    const lines = result.stdout.trimEnd().split('\n').map((line) => line.replace(/^\d\d:\d\d:\d\d\.\d{3} {2}/, ''));
    // Nothing in between: a term that ended and was replaced may show as the next term directly.
    expect(lines[0]).toBe('none    nobody leads');
    expect(lines.slice(1, 3)).toEqual([`leader  term ${first.fence}  value a`, `leader  term ${first.fence}  value a2`]);
    expect(lines.slice(-2)).toEqual([`leader  term ${second.fence}  value b`, 'none    nobody leads']);
  });

  it('--watch --json prints one object per line', async () => {
    const p = redis.prefix();
    const candidate = redis.track(elect$('cron', { redis: redis.url(), prefix: p, value: 'v', lease: 20_000 }));
    const term = (await within(candidate.acquired, 10_000, 'elected')) as Term;
    const watch = cli.start(['leader', 'cron', '--watch', '--json', '--redis', redis.url(), '--prefix', p, '--keyspace-events', 'assume']);
    await watch.waitFor(/"leader":\{"fence":\d+/);
    // Ending the candidacy resigns the term; a resign alone would let this lone candidate lead again after its handoffGrace.
    candidate.unsubscribe();
    await watch.waitFor(/"leader":null/);
    watch.kill('SIGTERM');
    const result = await within(watch.exited, 10_000, 'watch ended');
    expect(result).toMatchObject({ code: 0, stderr: '' });
    const events = result.stdout.trimEnd().split('\n').map((line) => JSON.parse(line) as { at: string; leader: unknown });
    expect(events.map((e) => e.leader)).toEqual([{ fence: term.fence, value: 'v' }, null]);
    for (const e of events) expect(Number.isNaN(Date.parse(e.at))).toBe(false);
  });
});
