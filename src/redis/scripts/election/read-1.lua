--[[
  Reads who leads an election, changing nothing.

  Input:
    KEYS[1] state: the election's hash (layout in includes/read-leader.lua)
    ARGV[1] owner token to compare with ('' for none)

  Output:
    {1, fence, rev, leftMs, nowUs, value, mine}  a live leader: its term,
                 the revision of its value, what its lease has left, the
                 server's clock in microseconds, its value, and 1 when it
                 is ARGV[1]
    {0, 0, 0, 0, nowUs, '', 0}                   nobody leads
]]
--- @include "server-time"
--- @include "read-leader"
local nowMs, nowUs = serverTime()
local leader = readLeader(KEYS[1], nowMs)
if leader == nil then return {0, 0, 0, 0, nowUs, '', 0} end
local mine = leader.token == ARGV[1] and 1 or 0
return {1, tonumber(leader.fenceText), leader.rev, leader.expiry - nowMs, nowUs, leader.value, mine}
