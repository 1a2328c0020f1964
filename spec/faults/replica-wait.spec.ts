/**
 * `replicas` waits (Redis WAIT) for replicas on connections of its own: a
 * replica that does not answer holds up the acquisitions that asked for it,
 * and nothing else on the same URL or client (WAIT blocks the connection it is
 * sent on). Real servers: a primary and a replica that the tests stop with
 * SIGSTOP (silent, its link to the primary still open).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { lock$, LockLostError, ReplicationError } from '../../src/index';
import { REPLICATION_LINKS_PER_NODE } from '../../src/redis/replication';
import type { RedisServerHandle } from '../support/redis-server';
import { eventually, sleep, stateKey, useFaultKit, waitFor, within } from './fault-kit';

const kit = useFaultKit();
const stopped: RedisServerHandle[] = [];
const dirs: string[] = [];
// Registered after the kit's: runs before it stops the servers (a stopped process would take 3 s to die).
afterEach(() => {
  for (const replica of stopped.splice(0)) replica.kill('SIGCONT');
});
afterEach(() => {
  for (const dir of dirs.splice(0)) rmSync(dir, { recursive: true, force: true });
});
const REPLICA_TIMEOUT = 2_000;
/** Generous for a loaded 2-core machine, and far below REPLICA_TIMEOUT. */
const PROMPT = 700;

interface Pair {
  primary: RedisServerHandle;
  replica: RedisServerHandle;
  /** Stops the replica (SIGSTOP) until the test ends. */
  silence(): Promise<void>;
}

async function primaryWithReplica(): Promise<Pair> {
  // The replica writes its sync file into its working directory.
  const dir = mkdtempSync(path.join(tmpdir(), 'yadl-replica-'));
  dirs.push(dir);
  const primary = await kit.server({ args: ['--repl-diskless-sync-delay', '0'] });
  const replica = await kit.server({ args: ['--replicaof', '127.0.0.1', String(primary.port), '--dir', dir] });
  const admin = kit.admin(primary.url);
  await eventually(async () => /slave0:.*state=online/.test(await admin.info('replication')), 10_000, 'the replica in sync');
  return {
    primary,
    replica,
    silence: async () => {
      stopped.push(replica);
      replica.kill('SIGSTOP');
      await sleep(50);
    },
  };
}

describe('replicas: WAIT blocks only the acquisition that asked', () => {
  for (const via of ['a URL (a connection yadl opens)', 'a client of the caller'] as const) {
    it(`a replica that does not answer holds up no other lock, renewal or command on ${via}`, async () => {
      const { primary, silence } = await primaryWithReplica();
      const caller = kit.client(primary.url);
      const redis = via === 'a client of the caller' ? caller : primary.url;
      const renewed = kit.hold(lock$('renewed', { redis, lease: 600 })); // renewed every 200 ms
      await within(renewed.acquired, 5_000, 'the renewed hold');
      await silence();

      const started = performance.now();
      const replicated = kit.hold(lock$('replicated', { redis, replicas: 1, replicaTimeout: REPLICA_TIMEOUT }));
      await sleep(100); // its WAIT is blocking by now
      const t0 = performance.now();
      const unrelated = kit.hold(lock$('unrelated', { redis }));
      await within(unrelated.acquired, 5_000, 'an unrelated lock');
      const unrelatedMs = performance.now() - t0;
      const t1 = performance.now();
      await caller.ping();
      const pingMs = performance.now() - t1;

      const ending = await within(replicated.ended, REPLICA_TIMEOUT + 3_000, 'the replicated acquisition');
      const replicatedMs = ending.at - started;
      console.log(
        `[replicas, silent replica, ${via}] an unrelated lock took ${unrelatedMs.toFixed(0)} ms, the caller's PING ${pingMs.toFixed(0)} ms, ` +
          `the replicated acquisition failed after ${replicatedMs.toFixed(0)} ms; the 600 ms lease ${renewed.ending() ? 'was lost' : 'still holds'}`,
      );
      expect(unrelatedMs, 'an unrelated lock on the same connection').toBeLessThan(PROMPT);
      expect(pingMs, "the caller's own command").toBeLessThan(PROMPT);
      expect(renewed.ending(), 'the renewed hold (lease 600 ms) survives the 2 s WAIT').toBeUndefined();
      expect(renewed.leases[0]!.lease.signal.aborted).toBe(false);
      const error = ending.kind === 'error' ? ending.error : undefined;
      expect(error).toBeInstanceOf(ReplicationError);
      expect(error).not.toBeInstanceOf(LockLostError);
      expect(error).toMatchObject({ required: 1, acknowledged: 0 });
      expect(replicatedMs).toBeGreaterThanOrEqual(REPLICA_TIMEOUT - 50);
    });
  }

  it('with a live replica, acquisitions are acknowledged; concurrent ones share a few connections that close when idle', async () => {
    const { primary, replica } = await primaryWithReplica();
    const admin = kit.admin(primary.url);
    const replicaAdmin = kit.admin(replica.url);
    const before = Number((await admin.info('clients')).match(/connected_clients:(\d+)/)![1]);
    const holds = Array.from({ length: 12 }, (_, i) => kit.hold(lock$(`acked-${i}`, { redis: primary.url, replicas: 1 })));
    const leases = await within(Promise.all(holds.map((h) => h.acquired)), 10_000, '12 acknowledged acquisitions');
    // WAIT said the replica has each hold, so it is there now.
    for (const [i, lease] of leases.entries()) expect(await replicaAdmin.hget(stateKey('', `acked-${i}`), 'w')).toBe(lease.token);
    const during = Number((await admin.info('clients')).match(/connected_clients:(\d+)/)![1]);
    // One data connection and at most REPLICATION_LINKS_PER_NODE for the WAITs (the replica's link is not a client here).
    expect(during - before).toBeLessThanOrEqual(1 + REPLICATION_LINKS_PER_NODE);
    expect(diagnostics.ownedClients).toBeLessThanOrEqual(1 + REPLICATION_LINKS_PER_NODE);
    for (const h of holds) h.unsubscribe();
    await waitFor(() => diagnostics.ownedClients === 0, 5_000, 'every connection yadl opened closed when idle');
  });

  it('a reader with replicas: 1 is acknowledged too', async () => {
    const { primary, replica } = await primaryWithReplica();
    const replicaAdmin = kit.admin(replica.url);
    const readers = [0, 1].map(() => kit.hold(lock$('shared', { redis: primary.url, mode: 'read', replicas: 1 })));
    const leases = await within(Promise.all(readers.map((r) => r.acquired)), 5_000, 'two acknowledged readers');
    for (const lease of leases) expect(await replicaAdmin.hexists(stateKey('', 'shared'), `r:${lease.token}`)).toBe(1);
  });
});
