--[[
  Ends a term: its leader resigns (or, with no token, whoever leads is
  removed), the candidates waiting are woken (includes/notify.lua) and
  observers told (includes/announce.lua). A
  leader that resigns is recorded for `grace` ms: its candidacy may not
  start the next term meanwhile unless another candidate started one first
  (see campaign-2.lua).

  Input:
    KEYS[1] state: the election's hash (layout in includes/read-leader.lua)
    KEYS[2] fence counter (kept with the state's keys; its retention is set
            by the term's last renewal)
    ARGV[1] owner token of the leader, '' to remove whoever leads
    ARGV[2] keyspace channel of the state, to publish wake-ups on ('shard:<channel>' on a Cluster: includes/wake.lua)
    ARGV[3] release id for the wake-up message ('' for none)
    ARGV[4] candidate id of the leader
    ARGV[5] grace, ms: how long the resigned candidate stays out

  Output:
    1   the term ended
    0   nobody led (or this token's lease had run out): nothing changed
    -1  another token leads: nothing changed
]]
--- @include "server-time"
--- @include "read-leader"
--- @include "notify"
--- @include "announce"
local nowMs = serverTime()
local state = KEYS[1]
local token, channel, releaseId, candidate, grace = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])

local leader = readLeader(state, nowMs)
if leader == nil then return 0 end
if token ~= '' and leader.token ~= token then return -1 end
redis.call('DEL', state)
if token ~= '' and grace > 0 then
  redis.call('HSET', state, 'rs', string.format('%.0f', nowMs + grace) .. ':' .. candidate)
  redis.call('PEXPIRE', state, grace)
end
notify(channel, releaseId)
announce(channel, 'end:' .. leader.fenceText)
return 1
