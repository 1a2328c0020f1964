--[[
  Gives back some of the permits of one owner token's grant, keeping the
  rest under the same token, fence and expiry; wakes waiters.

  Input:
    KEYS[1] state hash (layout in includes/read-permits.lua)
    ARGV[1] owner token
    ARGV[2] permits to give back (>= 1, fewer than the grant has)
    ARGV[3] keyspace channel of the state, to publish wake-ups on ('shard:<channel>' on a Cluster: includes/wake.lua)
    ARGV[4] release id for the wake-up message ('' for none)

  Output:
    the permits the grant keeps (>= 1); 0 when this token holds nothing
    (nothing changed); -1 when the grant has no more than that (nothing changed)
]]
--- @include "server-time"
--- @include "format-grant"
--- @include "notify"
local nowMs = serverTime()
local state = KEYS[1]
local token, back, channel, releaseId = ARGV[1], tonumber(ARGV[2]), ARGV[3], ARGV[4]

local value = redis.call('HGET', state, 'p:' .. token)
if not value then return 0 end
local expiry, fence, permits, rest = string.match(value, '^(%d+):(%d+):(%d+):?(.*)$')
if expiry == nil then error('YADLSTATE semaphore state at ' .. state .. ' was not written by yadl') end
if tonumber(expiry) <= nowMs then return 0 end
permits = tonumber(permits)
if back >= permits then return -1 end
redis.call('HSET', state, 'p:' .. token, formatGrant(tonumber(expiry), fence, permits - back, rest))
notify(channel, releaseId)
return permits - back
