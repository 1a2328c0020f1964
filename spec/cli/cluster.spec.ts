import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Cluster } from 'ioredis';
import type { Observable } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { elect$, lock$, query, semaphore$, type LockHoldInfo, type Lease, type LockOptions, type Term } from '../../src/index';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';
import { namesOn, ownerIn, stateKey, subscribeLock, useTopology, within } from '../topology/topology';
import { useCli } from './cli-kit';

/**
 * query() and the command line on a local Redis Cluster (3 primaries, 3
 * replicas): holds on every primary are found, one SCAN per primary.
 */
const cli = useCli();
let cluster: RedisClusterHandle;
let prefixes = 0;
const { holdings, clients } = useTopology(async () => (cluster = await startRedisCluster()));
const prefix = (): string => `cc${++prefixes}`;

function connect(): Cluster {
  const client = new Cluster(cluster.seeds);
  clients.push(client);
  return client;
}

async function held(name: string, options: LockOptions): Promise<Lease> {
  const h = subscribeLock(lock$(name, options));
  holdings.push(h);
  const lease = await within(h.acquired, 15_000, `'${name}' acquired`);
  cli.forbid(lease.token);
  return lease;
}

const seeds = (): string => cluster.seeds.map((s) => `${s.host}:${s.port}`).join(',');

describe('query and yadl on Redis Cluster', { timeout: 90_000 }, () => {
  it('finds the holds on every primary, through seeds or a Cluster client', async () => {
    const p = prefix();
    const primaries = await cluster.primaries();
    expect(primaries).toHaveLength(3);
    const byPrimary = namesOn(primaries, p, 3);
    const redis = connect();
    const leases = new Map<string, Lease>();
    for (const names of byPrimary.values()) {
      for (const [i, name] of names.entries()) leases.set(name, await held(name, { redis, prefix: p, mode: i === 0 ? 'read' : 'write' }));
    }
    const expected = [...leases.values()]
      .map((lease) => [lease.name, lease.mode, lease.fence])
      .sort((a, b) => String(a[0]).localeCompare(String(b[0])));

    const viaSeeds = await query({ redis: { cluster: cluster.seeds }, prefix: p, kind: 'lock' });
    expect(viaSeeds.map((h) => [h.name, h.mode, h.fence])).toEqual(expected);
    const viaClient = (await query({ redis, prefix: p })) as LockHoldInfo[];
    expect(viaClient.map((h) => [h.name, h.mode, h.fence])).toEqual(expected);
    // Every primary contributed.
    expect(new Set(viaSeeds.map((h) => ownerIn(primaries, stateKey(p, h.name)).port)).size).toBe(3);

    const { code, stdout } = await cli.run(['ls', '--json', '--cluster', seeds(), '--prefix', p]);
    expect(code).toBe(0);
    expect((JSON.parse(stdout) as LockHoldInfo[]).map((h) => [h.name, h.mode, h.fence])).toEqual(expected);
    const table = await cli.run(['ls', '--cluster', seeds(), '--prefix', p, '--match', `${[...leases.keys()][0]!}`]);
    expect(table.stdout.trimEnd().split('\n')).toHaveLength(2);
  });

  it('finds semaphores and elections on every primary, and reads a leader on its primary', async () => {
    const p = prefix();
    const primaries = await cluster.primaries();
    // One name per primary; the {name} tag puts a semaphore or election in the lock's slot of that name.
    const [first, second, third] = [...namesOn(primaries, p, 1).values()].map((names) => names[0]!);
    const redis = connect();
    const track = <L>(holds: Observable<L>): Promise<L> => {
      const h = subscribeLock(holds);
      holdings.push(h as never);
      return within(h.acquired, 15_000, 'held');
    };
    const grants = [
      await track(semaphore$(first!, { redis, prefix: p, limit: 3, permits: 2 })),
      await track(semaphore$(third!, { redis, prefix: p, limit: 1 })),
    ];
    for (const grant of grants) cli.forbid(grant.token);
    const term = (await track(elect$(second!, { redis, prefix: p, value: 'leader-on-cluster' }))) as Term;

    const holds = await query({ redis: { cluster: cluster.seeds }, prefix: p });
    expect(holds.map((h) => [h.name, h.kind]).sort()).toEqual(
      [
        [first, 'semaphore'],
        [second, 'election'],
        [third, 'semaphore'],
      ].sort(),
    );
    const semaphores = await cli.run(['ls', '--json', '--kind', 'semaphore', '--cluster', seeds(), '--prefix', p]);
    expect((JSON.parse(semaphores.stdout) as { name: string; held: number }[]).map((h) => [h.name, h.held]).sort()).toEqual(
      [
        [first, 2],
        [third, 1],
      ].sort(),
    );
    const leader = await cli.run(['leader', second!, '--cluster', seeds(), '--prefix', p]);
    expect(leader.code).toBe(0);
    expect(leader.stdout).toMatch(new RegExp(`^term ${term.fence}  expires in \\S+  value leader-on-cluster\\n$`));
  });

  it('shows, watches and runs under a lock on the primary that owns it', async () => {
    const p = prefix();
    const name = 'on-cluster';
    const owner = ownerIn(await cluster.primaries(), stateKey(p, name));
    const watch = cli.start(['watch', name, '--cluster', seeds(), '--prefix', p]);
    await watch.waitFor(/now\s+free/);

    // The command runs until the test creates `done`.
    const done = path.join(mkdtempSync(path.join(tmpdir(), 'yadl-cli-')), 'done');
    const script = 'echo "fence=$YADL_FENCE"; while [ ! -e "$1" ]; do sleep 0.05; done; exit 4';
    const yadl = cli.start(['run', name, '--cluster', seeds(), '--prefix', p, '--', 'sh', '-c', script, 'sh', done]);
    const fence = (await yadl.waitFor(/fence=(\d+)/))[1];
    const show = await cli.run(['show', name, '--cluster', seeds(), '--prefix', p]);
    expect(show.code).toBe(0);
    expect(show.stdout).toContain(`write  fence ${fence}`);
    // The watcher listens on the primary that owns the lock's slot.
    expect(show.stdout).toContain('listening  1 process');
    expect(await cluster.command(owner.port, 'EXISTS', stateKey(p, name))).toBe(1);

    writeFileSync(done, '');
    expect((await within(yadl.exited, 20_000, 'run ended')).code).toBe(4);
    rmSync(path.dirname(done), { recursive: true, force: true });
    await watch.waitFor(new RegExp(`acquired  write  fence ${fence}`));
    await watch.waitFor(new RegExp(`released  write  fence ${fence}\\n`));
    watch.kill('SIGINT');
    expect((await within(watch.exited, 10_000, 'watch ended')).code).toBe(0);
  });
});
