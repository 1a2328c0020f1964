--[[
  Removes the mark a waiting writer left (layout in includes/read-holders.lua) when it stops
  waiting, so that the readers queued behind it go ahead at once.

  Input:
    KEYS[1] state hash
    ARGV[1] owner token of the writer
    ARGV[2] keyspace channel of the state, to publish wake-ups on
    ARGV[3] release id for the wake-up message ('' for none)

  Output:
    1 when a mark was removed, 0 when there was none
]]
--- @include "server-time"
--- @include "tidy"
--- @include "notify"
local nowMs = serverTime()
local state, token, channel, releaseId = KEYS[1], ARGV[1], ARGV[2], ARGV[3]
if redis.call('HDEL', state, 'q:' .. token) == 0 then return 0 end
tidy(state, nowMs)
notify(channel, releaseId)
return 1
