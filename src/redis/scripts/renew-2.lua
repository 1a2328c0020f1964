--[[
  Keeps a hold alive (a lease renewal), or checks that it still exists.

  Input:
    KEYS[1] state hash (see acquire-2.lua)
    KEYS[2] fence counter
    ARGV[1] owner token
    ARGV[2] hold, ms: the new lease from now; 0 only checks (a fixed ttl)
    ARGV[3] fence retention, ms

  Output:
    ms left of the hold (> 0), or 0 when this token no longer holds the lock
]]
--- @include "clock"
local state, fenceKey = KEYS[1], KEYS[2]
local token, hold, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local holder = redis.call('HMGET', state, 'w', 'wx')
if holder[1] ~= token then return 0 end
local expiry = tonumber(holder[2])
if expiry == nil or expiry <= nowMs then return 0 end
if hold == 0 then return expiry - nowMs end

redis.call('HSET', state, 'wx', nowMs + hold)
-- The key lives as long as its longest hold.
if redis.call('PTTL', state) < hold then redis.call('PEXPIRE', state, hold) end
redis.call('PEXPIRE', fenceKey, hold + retention)
return hold
