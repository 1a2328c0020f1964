--[[
  Keeps a semaphore grant alive (a lease renewal), or checks that it still
  exists.

  Input:
    KEYS[1] state hash (layout in includes/read-permits.lua)
    ARGV[1] owner token
    ARGV[2] hold, ms: the new lease from now; 0 only checks (a fixed ttl)
    ARGV[3] fence retention, ms

  Output:
    ms left of the grant (> 0), or 0 when this token no longer holds permits
]]
--- @include "server-time"
--- @include "format-grant"
--- @include "keep-alive"
local nowMs = serverTime()
local state = KEYS[1]
local token, hold, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local value = redis.call('HGET', state, 'p:' .. token)
if not value then return 0 end
local expiry, fence, permits, rest = string.match(value, '^(%d+):(%d+):(%d+):?(.*)$')
expiry = tonumber(expiry)
if expiry == nil then error('YADLSTATE semaphore state at ' .. state .. ' was not written by yadl') end
if expiry <= nowMs then return 0 end
if hold == 0 then return expiry - nowMs end

redis.call('HSET', state, 'p:' .. token, formatGrant(nowMs + hold, fence, permits, rest))
-- The hash (its limit and fence counter) lives a retention past the grant.
keepAlive(state, hold + retention)
return hold
