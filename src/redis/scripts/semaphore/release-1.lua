--[[
  Gives back every permit of one owner token's grant and wakes waiters.

  Input:
    KEYS[1] state hash (layout in includes/read-permits.lua)
    ARGV[1] owner token
    ARGV[2] keyspace channel of the state, to publish wake-ups on ('shard:<channel>' on a Cluster: includes/wake.lua)
    ARGV[3] release id for the wake-up message ('' for none)

  Output:
    1   released
    0   nothing was held (or this token's grant had expired): nothing changed
    -1  other owners hold permits: nothing changed
]]
--- @include "server-time"
--- @include "read-permits"
--- @include "notify"
local nowMs = serverTime()
local state = KEYS[1]
local token, channel, releaseId = ARGV[1], ARGV[2], ARGV[3]

-- The common case first: the token's own live grant, without reading the others.
local own = redis.call('HGET', state, 'p:' .. token)
if own and (tonumber(string.match(own, '^(%d+):') or '0')) > nowMs then
  redis.call('HDEL', state, 'p:' .. token)
  notify(channel, releaseId)
  return 1
end
local s = readPermits(state, nowMs, true)
if s.held > 0 then return -1 end
return 0
