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
--- @include "renew-hold"
local nowMs = serverTime()
local token, mode, hold, retention = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
return renewHold(KEYS[1], KEYS[2], token, mode, hold, retention, nowMs)
