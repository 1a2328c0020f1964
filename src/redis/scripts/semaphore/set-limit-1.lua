--[[
  Stores a semaphore's limit for everyone. Holders above a lowered limit keep
  their permits; new grants wait until the total is below it. Wakes waiters:
  a raised limit may let them in, a lowered one may refuse their requests.

  Input:
    KEYS[1] state hash (layout in includes/read-permits.lua)
    ARGV[1] the new limit (>= 1)
    ARGV[2] keyspace channel of the state, to publish wake-ups on ('shard:<channel>' on a Cluster: includes/wake.lua)
    ARGV[3] how long the hash lives at least from now, ms (the fence retention)

  Output:
    the limit stored before (0: none)
]]
--- @include "server-time"
--- @include "read-permits"
--- @include "keep-alive"
--- @include "notify"
local nowMs = serverTime()
local state = KEYS[1]
local limit, channel, retention = tonumber(ARGV[1]), ARGV[2], tonumber(ARGV[3])
local s = readPermits(state, nowMs, true)
redis.call('HSET', state, 'lim', limit)
keepAlive(state, (s.latest and (s.latest - nowMs) or 0) + retention)
if s.limit ~= limit then notify(channel, '') end
return s.limit or 0
