/**
 * The HoldKeeper's renewals against replies that are errors but not
 * verdicts: Redis saying BUSY (a script running past busy-reply-threshold)
 * has not said the hold is gone. Regression spec of the review's defect 9.6
 * (renewal part); the acquire part is spec/faults/transient-replies.spec.ts.
 */
import { describe, expect, it } from 'vitest';
import { lock$ } from '../../src/index';
import { BUSY_SERVER_ARGS, busyFor, sleep, stateKey, useFaultKit, within } from '../faults/fault-kit';

const kit = useFaultKit();
const LEASE = 3_000;
const BUSY = 1_500;

describe('renewals answered BUSY', () => {
  it('regression 9.6: a lease of 3000 ms survives a 1.5 s BUSY and still holds after it', async () => {
    const server = await kit.server({ args: BUSY_SERVER_ARGS });
    const admin = kit.admin(server.url);
    const holding = kit.hold(lock$('busy-renewal', { redis: server.url, prefix: 'hk', lease: LEASE }));
    const lease = await within(holding.acquired, 5_000, 'the holder');
    const acquiredAt = holding.leases[0]!.at;
    // The first renewal is due at lease / 3: be busy from shortly before it until well after.
    await sleep(Math.max(0, acquiredAt + LEASE / 3 - 200 - performance.now()));
    const busyFrom = performance.now();
    await busyFor(admin, BUSY);
    const busyUntil = performance.now();
    // Past the end of the lease as it stood before BUSY: only a renewal after it keeps the hold.
    await sleep(Math.max(0, acquiredAt + LEASE + 500 - performance.now()));
    const ending = holding.ending();
    console.log(
      `[9.6 renewal] BUSY from ${(busyFrom - acquiredAt).toFixed(0)} to ${(busyUntil - acquiredAt).toFixed(0)} ms into the hold; ` +
        (ending === undefined ? 'the hold survived' : `the hold ended at ${(ending.at - acquiredAt).toFixed(0)} ms: ${String((ending as { error?: unknown }).error)}`),
    );
    expect(ending, 'the hold ended').toBeUndefined();
    expect(lease.signal.aborted).toBe(false);
    expect(await admin.hget(stateKey('hk', 'busy-renewal'), 'w')).toBe(lease.token);
    holding.unsubscribe();
  });
});
