/**
 * Regression 9.9: a waiting writer's mark (`q:<token>` in the lock's hash)
 * outlives a dead writer by at most one writer lease, as the README says,
 * however long the readers it waits for still hold.
 *
 * On the code this was written against, the mark was written to last the
 * longest reader's remaining ttl plus the writer's hold, and was never
 * renewed: a writer killed while waiting for a 20 s reader kept new readers
 * out for about 20 s more.
 */
import type { Redis } from 'ioredis';
import { describe, expect, it } from 'vitest';
import { lock$, type Lease } from '../../src/index';
import { eventually, sleep, stateKey, useFaultKit, within } from '../faults/fault-kit';

const kit = useFaultKit();
const PREFIX = 'm';
const NAME = 'report';

async function serverNow(admin: Redis): Promise<number> {
  const [seconds, micros] = await admin.time();
  return Number(seconds) * 1_000 + Number(micros) / 1_000;
}

/** The waiting writers' marks as { field: expiry (server ms) }. */
async function marks(admin: Redis): Promise<Record<string, number>> {
  const hash = await admin.hgetall(stateKey(PREFIX, NAME));
  return Object.fromEntries(Object.entries(hash).flatMap(([field, value]) => (field.startsWith('q:') ? [[field, Number(value)]] : [])));
}

describe("a dead writer's mark", () => {
  it('regression 9.9: a writer killed while waiting for a long reader stops holding new readers back within one writer lease', async () => {
    const server = await kit.server();
    const admin = kit.admin(server.url);
    const LEASE = 1_000;
    const reader = kit.hold(lock$(NAME, { redis: kit.client(server.url), prefix: PREFIX, mode: 'read', ttl: 20_000 }));
    const readerLease = await within(reader.acquired, 5_000, 'the reader');
    const writer = kit.worker('holder.ts', { REDIS_URL: server.url, PREFIX, NAME, LEASE: String(LEASE), LOCK_MODE: 'write' });
    // Starting tsx on a loaded machine can take seconds.
    await eventually(async () => Object.keys(await marks(admin)).length === 1, 15_000, "the writer's mark");
    await sleep(200); // past the writer's retry once its subscription is confirmed

    const markLeft = Object.values(await marks(admin))[0]! - (await serverNow(admin));
    const killedAt = performance.now();
    writer.kill('SIGKILL');
    await writer.exited;
    const next = kit.hold(lock$(NAME, { redis: server.url, prefix: PREFIX, mode: 'read' }));
    const lease = await Promise.race([next.acquired, sleep(LEASE + 1_500 + 1_000).then(() => undefined)]);
    const after = next.leases[0] === undefined ? undefined : next.leases[0].at - killedAt;
    console.log(
      `[9.9] the mark had ${markLeft.toFixed(0)} ms left at the kill (writer lease ${LEASE} ms); ` +
        `a new reader ${after === undefined ? `was still waiting ${(performance.now() - killedAt).toFixed(0)} ms after it` : `acquired ${after.toFixed(0)} ms after it`}`,
    );
    expect(lease as Lease | undefined, 'a new reader acquiring').toBeDefined();
    expect(after).toBeLessThan(LEASE + 1_500);
    const now = await serverNow(admin);
    expect(Object.values(await marks(admin)).filter((expiry) => expiry > now), 'live marks').toEqual([]);
    // The first reader still holds: it was the mark, not the reader, that went.
    expect(reader.ending()).toBeUndefined();
    expect(await admin.hexists(stateKey(PREFIX, NAME), `r:${readerLease.token}`)).toBe(1);
  });
});
