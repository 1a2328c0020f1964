-- Publishes a wake-up on the lock's channel: `channel` is the state's
-- keyspace channel, where waiters listen for Redis' own 'expired' events too,
-- and PUBLISH reaches them there. On Redis Cluster the client passes it as
-- 'shard:<keyspace channel>': from Redis 7 on, the wake-up then goes with
-- SPUBLISH to the shard channel of that name, which hashes to the lock's own
-- slot, so the cluster bus carries it to that shard's replicas only rather
-- than to every node (waiters SSUBSCRIBE it on the slot's primary); an older
-- server PUBLISHes it on the keyspace channel as before. Redis 7.0 lets a
-- script SPUBLISH to a channel of its own slot (another slot's is refused as
-- "a non local key"), and every lock's channel is in its keys' slot.
local function wake(channel, message)
  local sharded = string.match(channel, '^shard:(.*)$')
  if sharded == nil then return redis.call('PUBLISH', channel, message) end
  if (redis.REDIS_VERSION_NUM or 0) >= 0x070000 then return redis.call('SPUBLISH', sharded, message) end
  return redis.call('PUBLISH', sharded, message)
end
