--[[
  Releases the holds of one owner token on several names (lockAll$), each as
  release-2.lua does: its fair line is handed on, or its waiters woken.

  Input:
    KEYS[2i-1], KEYS[2i]  state hash and fence counter of name i (2 keys per
                          name, as in acquire-all-2.lua)
    ARGV[1] owner token
    ARGV[2] mode: 'w' or 'r'
    ARGV[3] release id for the wake-up messages ('' for none)
    ARGV[4] fence retention, ms
    ARGV[4 + i] keyspace channel of name i's state, to publish wake-ups on ('shard:<channel>' on a Cluster: includes/wake.lua)

  Output:
    1   released (at least one name; the others had expired or were taken)
    0   none was held by this token, and none is held by another
    -1  none was held by this token, and another owner holds one
]]
--- @include "server-time"
--- @include "release-hold"
local nowMs, nowUs = serverTime()
local token, mode, releaseId, retention = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])
local result = 0
for i = 1, #KEYS / 2 do
  local reply = releaseHold(KEYS[2 * i - 1], KEYS[2 * i], token, mode, ARGV[4 + i], releaseId, retention, nowMs, nowUs)
  if reply == 1 then
    result = 1
  elseif reply == -1 and result == 0 then
    result = -1
  end
end
return result
