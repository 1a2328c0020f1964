--[[
  Keeps many holds alive (or checks them) in one script: the renewals that
  fall due together in one process (see src/core/renewal-batcher.ts). Each
  hold is renewed exactly as renew-2.lua renews it, on one reading of the
  server's clock. Two keys per hold, all in one Cluster slot (the caller
  groups holds by slot).

  Input:
    KEYS[2i-1] state hash of the i-th hold (layout in includes/read-holders.lua)
    KEYS[2i]   its fence counter
    ARGV[1]    fence retention, ms
    ARGV[3i-1] owner token of the i-th hold
    ARGV[3i]   its mode: 'w' or 'r'
    ARGV[3i+1] its hold, ms: the new lease from now; 0 only checks (a fixed ttl)

  Output:
    one entry per hold, in order: ms left of the hold (> 0), 0 when this
    token no longer holds the lock, or an error message (a string) when
    Redis refused to touch its keys (a key of another type): one foreign
    key does not cost the other holds their renewal.
]]
--- @include "server-time"
--- @include "renew-hold"
local nowMs = serverTime()
local retention = tonumber(ARGV[1])
local results = {}
for i = 1, #KEYS / 2 do
  local a = 3 * i - 1
  local ok, left = pcall(renewHold, KEYS[2 * i - 1], KEYS[2 * i], ARGV[a], ARGV[a + 1], tonumber(ARGV[a + 2]), retention, nowMs)
  if ok then
    results[i] = left
  else
    results[i] = type(left) == 'table' and tostring(left.err) or tostring(left)
  end
end
return results
