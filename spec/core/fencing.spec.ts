import { firstValueFrom, take } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { diagnostics } from '../../src/diagnostics';
import { lock$, type LockOptions } from '../../src/index';
import { lockKeys } from '../../src/redis/keys';
import { activeTimers, expectQuiescent } from '../support/quiescence';
import { useRedis } from '../support/redis-context';
import { waitFor } from './holding';

const redis = useRedis();
let timersBefore = 0;

beforeEach(() => {
  timersBefore = activeTimers();
});

afterEach(async () => {
  await expectQuiescent(timersBefore);
});

/** Acquires, notes the fence, releases, and waits until the release is done. */
async function fenceOf(name: string, opts: LockOptions): Promise<number> {
  const lease = await firstValueFrom(lock$(name, { timeout: 5_000, ...opts }).pipe(take(1)));
  await waitFor(() => diagnostics.connectionUsers === 0, 2_000, 'the release');
  return lease.fence;
}

function expectIncreasing(fences: number[]): void {
  for (const fence of fences) expect(Number.isSafeInteger(fence)).toBe(true);
  for (let i = 1; i < fences.length; i++) expect(fences[i]).toBeGreaterThan(fences[i - 1]!);
}

describe('fencing tokens', () => {
  it('strictly increase over 20 sequential acquisitions', async () => {
    const opts = { redis: redis.client(), prefix: redis.prefix() };
    const fences: number[] = [];
    for (let i = 0; i < 20; i++) fences.push(await fenceOf('fenced', opts));
    expectIncreasing(fences);
  });

  it('strictly increase when the acquisitions alternate between clients (and a URL connection)', async () => {
    const prefix = redis.prefix();
    const sources = [redis.client(), redis.client(), redis.url];
    const fences: number[] = [];
    for (let i = 0; i < 20; i++) fences.push(await fenceOf('shared', { redis: sources[i % sources.length], prefix }));
    expectIncreasing(fences);
  });

  it('keep increasing after the fence counter is lost', async () => {
    const client = redis.client();
    const prefix = redis.prefix();
    const { fence: fenceKey } = lockKeys(prefix, 'amnesia', 0);
    const before = await fenceOf('amnesia', { redis: client, prefix });
    expect(await client.exists(fenceKey)).toBe(1);

    expect(await client.del(fenceKey)).toBe(1); // as if Redis lost the counter
    const after = await fenceOf('amnesia', { redis: client, prefix });
    expect(after).toBeGreaterThan(before);
    expect(await client.get(fenceKey)).toBe(String(after));
  });
});
