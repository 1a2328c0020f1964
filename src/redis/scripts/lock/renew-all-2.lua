--[[
  Keeps the holds of one owner token on several names alive (lockAll$), or
  checks that they all still exist: renew-2.lua for each name.

  Input:
    KEYS[2i-1], KEYS[2i]  state hash and fence counter of name i (2 keys per
                          name, as in acquire-all-2.lua)
    ARGV[1] owner token
    ARGV[2] mode: 'w' or 'r'
    ARGV[3] hold, ms: the new lease from now; 0 only checks (a fixed ttl)
    ARGV[4] fence retention, ms

  Output:
    {leftMs, 0}  every hold is alive; the least ms any of them has left
    {0, i}       name i (from 1) is no longer held by this token: the
                 multi-lock is lost (the others are renewed all the same,
                 and released by the caller)
]]
--- @include "server-time"
--- @include "renew-hold"
local nowMs = serverTime()
local token, mode, hold, retention = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4])
local least, lost = nil, 0
for i = 1, #KEYS / 2 do
  local left = renewHold(KEYS[2 * i - 1], KEYS[2 * i], token, mode, hold, retention, nowMs)
  if left == 0 then
    if lost == 0 then lost = i end
  elseif least == nil or left < least then
    least = left
  end
end
if lost > 0 then return {0, lost} end
return {least, 0}
