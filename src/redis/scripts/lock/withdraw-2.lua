--[[
  Takes back what a waiter that gives up left behind: a writer's mark (see
  acquire-2.lua), its ticket in the fair line, and a hold granted to it that
  it never confirmed. Hands the lock on if that freed it.

  Input:
    KEYS[1] state hash (layout in includes/read-holders.lua)
    KEYS[2] fence counter (for the fences of holds granted to the line)
    ARGV[1] owner token of the waiter
    ARGV[2] keyspace channel of the state, to publish wake-ups on ('shard:<channel>' on a Cluster: includes/wake.lua)
    ARGV[3] release id for the wake-up message ('' for none)
    ARGV[4] fence retention, ms

  Output:
    1 when something was taken back, 0 when there was nothing
]]
--- @include "server-time"
--- @include "tidy"
--- @include "grant-line"
--- @include "notify"
local nowMs, nowUs = serverTime()
local state, fenceKey = KEYS[1], KEYS[2]
local token, channel, releaseId, retention = ARGV[1], ARGV[2], ARGV[3], tonumber(ARGV[4])

local removed = redis.call('HDEL', state, 'q:' .. token, 't:' .. token)
if redis.call('HDEL', state, 'g:' .. token) == 1 then
  -- Granted while it was giving up: the hold is not its to keep.
  if redis.call('HGET', state, 'w') == token then redis.call('HDEL', state, 'w', 'wf', 'wx', 'wl') end
  redis.call('HDEL', state, 'r:' .. token, 'l:' .. token)
  removed = removed + 1
end
if removed == 0 then return 0 end
local left = tidy(state, nowMs)
if left ~= nil and grantLine(state, fenceKey, left, nowMs, nowUs, retention, channel) > 0 then return 1 end
notify(channel, releaseId)
return 1
