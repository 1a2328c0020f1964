--[[
  Keeps a hold alive (a lease renewal), or checks that it still exists.

  Input:
    KEYS[1] state hash (layout in includes/read-holders.lua)
    KEYS[2] fence counter
    ARGV[1] owner token
    ARGV[2] mode: 'w' or 'r'
    ARGV[3] hold, ms: the new lease from now; 0 only checks (a fixed ttl)
    ARGV[4] fence retention, ms

  Output:
    ms left of the hold (> 0), or 0 when this token no longer holds the lock
]]
--- @include "server-time"
--- @include "parse-expiring"
--- @include "extend-hold"
local nowMs = serverTime()
local state, fenceKey = KEYS[1], KEYS[2]
local token, mode, hold, retention = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])

local expiry, fenceText
if mode == 'r' then
  local own = redis.call('HGET', state, 'r:' .. token)
  if not own then return 0 end
  expiry, fenceText = parseExpiring(own)
else
  local holder = redis.call('HMGET', state, 'w', 'wx')
  if holder[1] ~= token then return 0 end
  expiry = tonumber(holder[2])
end
if expiry == nil or expiry <= nowMs then return 0 end
if hold == 0 then return expiry - nowMs end

extendHold(state, fenceKey, token, mode, fenceText, nowMs, hold, retention)
return hold
