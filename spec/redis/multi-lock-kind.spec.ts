import calculateSlot from 'cluster-key-slot';
import { Cluster, Redis } from 'ioredis';
import { afterAll, describe, expect, it } from 'vitest';
import { lockKeys } from '../../src/redis/keys';
import { lockRuns } from '../../src/redis/kinds/multi-lock-kind';

/** lockRuns is pure: clients that never connect (lazyConnect) only tell it what they are. */
const single = { client: new Redis({ lazyConnect: true }), db: 0, keyPrefix: '' };
const cluster = { client: new Cluster([], { lazyConnect: true }), db: 0, keyPrefix: '' };

afterAll(() => {
  single.client.disconnect();
  cluster.client.disconnect();
});

describe('the order multi-locks take names in (lockRuns)', () => {
  const names = Array.from({ length: 40 }, (_, i) => `name-${(i * 7919) % 97}`);

  it('on one server: one run, by full key, whatever the order given', () => {
    const runs = lockRuns(single, 'app', names);
    expect(runs).toHaveLength(1);
    const keys = runs[0]!.map((n) => lockKeys('app', n, 0).state);
    expect(keys).toEqual([...keys].sort());
    expect(lockRuns(single, 'app', [...names].reverse())).toEqual(runs);
  });

  it('on a Cluster: by slot, then by full key; one run per slot, the same for any order given', () => {
    const runs = lockRuns(cluster, 'app', names);
    const slots = runs.map((run) => new Set(run.map((n) => calculateSlot(lockKeys('app', n, 0).state))));
    for (const set of slots) expect(set.size).toBe(1);
    const order = slots.map((set) => [...set][0]!);
    expect(order).toEqual([...order].sort((a, b) => a - b));
    expect(new Set(order).size).toBe(order.length);
    for (const run of runs) {
      const keys = run.map((n) => lockKeys('app', n, 0).state);
      expect(keys).toEqual([...keys].sort());
    }
    expect(lockRuns(cluster, 'app', [...names].sort())).toEqual(runs);
  });

  it("on a Cluster, a hash tag in the client's keyPrefix puts every name in one run", () => {
    const tagged = { ...cluster, keyPrefix: '{orders}:' };
    expect(lockRuns(tagged, 'app', names)).toHaveLength(1);
  });
});
