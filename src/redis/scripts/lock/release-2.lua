--[[
  Releases the hold of one owner token, and hands the lock to the head of
  the fair line if there is one (see includes/grant-line.lua).

  Input:
    KEYS[1] state hash (layout in includes/read-holders.lua)
    KEYS[2] fence counter (for the fences of holds granted to the line)
    ARGV[1] owner token
    ARGV[2] mode: 'w' or 'r'
    ARGV[3] keyspace channel of the state, to publish wake-ups on ('shard:<channel>' on a Cluster: includes/wake.lua)
    ARGV[4] release id for the wake-up message ('' for none)
    ARGV[5] fence retention, ms

  Output:
    1   released
    0   the lock was free (or this token's hold had expired): nothing changed
    -1  another owner holds it: nothing changed
]]
--- @include "server-time"
--- @include "release-hold"
local nowMs, nowUs = serverTime()
local state, fenceKey = KEYS[1], KEYS[2]
local token, mode, channel, releaseId, retention = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])
return releaseHold(state, fenceKey, token, mode, channel, releaseId, retention, nowMs, nowUs)
