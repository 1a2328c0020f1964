/**
 * The facade conformance suite (spec/facade/conformance/) through Redis
 * Sentinel (a primary, a replica, three sentinels): instances on a Sentinel
 * client, or on one yadl makes from `{ sentinels, name }`.
 */
import { Redis } from 'ioredis';
import { conformance, KINDS, lockFactory } from '../facade/conformance';
import { startSentinelSetup, type SentinelSetupHandle } from '../support/redis-sentinel';
import { topologySite, useTopology } from './topology';

let setup: SentinelSetupHandle;
const hooks = useTopology(async () => (setup = await startSentinelSetup()));
const viaSentinels = (): { sentinels: { host: string; port: number }[]; name: string } => ({ sentinels: setup.sentinels, name: setup.name });
const site = topologySite(hooks, {
  where: ' through Sentinel',
  tag: 'sc',
  // As the README asks of a Sentinel client passed in.
  connect: () => new Redis({ ...viaSentinels(), failoverDetector: true }),
  ownSource: viaSentinels,
});

// Every part, for the two modes Redis sees: RedisLock writes the hash's writer fields, RedisReadLock its
// per-reader fields (and meets writer marks). RedisWriteLock is RedisLock's code, and RedisRLock differs
// from it only inside the instance (re-entries never reach Redis): on a topology they would repeat
// RedisLock's commands, so they run on the shared test server only (spec/facade/redis-*.spec.ts).
conformance(lockFactory(site, KINDS.RedisLock));
conformance(lockFactory(site, KINDS.RedisReadLock));
