/**
 * The facade conformance suite (spec/facade/conformance/) on a real Redis
 * Cluster (3 primaries, 3 replicas, one per file): instances on a Cluster
 * client, or on one yadl makes from `{ cluster: seeds }`, with each test's
 * lock in another slot.
 */
import { Cluster } from 'ioredis';
import { conformance, KINDS, lockFactory } from '../facade/conformance';
import { startRedisCluster, type RedisClusterHandle } from '../support/redis-cluster';
import { topologySite, useTopology } from './topology';

let cluster: RedisClusterHandle;
const hooks = useTopology(async () => (cluster = await startRedisCluster()));
const site = topologySite(hooks, {
  where: ' on Cluster',
  tag: 'cc',
  connect: () => new Cluster(cluster.seeds),
  ownSource: () => ({ cluster: cluster.seeds }),
});

// Every part, for the two modes Redis sees: RedisLock writes the hash's writer fields, RedisReadLock its
// per-reader fields (and meets writer marks). RedisWriteLock is RedisLock's code, and RedisRLock differs
// from it only inside the instance (re-entries never reach Redis): on a topology they would repeat
// RedisLock's commands, so they run on the shared test server only (spec/facade/redis-*.spec.ts).
conformance(lockFactory(site, KINDS.RedisLock));
conformance(lockFactory(site, KINDS.RedisReadLock));
