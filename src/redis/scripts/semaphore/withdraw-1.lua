--[[
  Takes back the ticket of a fair waiter that gives up; if it was at the head
  of the line, wakes the others (the next may fit now).

  Input:
    KEYS[1] state hash (layout in includes/read-permits.lua)
    ARGV[1] owner token of the waiter
    ARGV[2] keyspace channel of the state, to publish wake-ups on ('shard:<channel>' on a Cluster: includes/wake.lua)

  Output:
    1 when a ticket was taken back, 0 when there was none
]]
--- @include "server-time"
--- @include "read-permits"
--- @include "notify"
local nowMs = serverTime()
local state, token, channel = KEYS[1], ARGV[1], ARGV[2]
local s = readPermits(state, nowMs, true)
local mine = s.ticketOf[token]
if mine == nil then return 0 end
redis.call('HDEL', state, 't:' .. token)
if s.tickets[1] == mine and #s.tickets > 1 then notify(channel, '') end
return 1
