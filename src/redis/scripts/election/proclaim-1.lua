--[[
  Changes the value of a live term, keeping its fence, and announces it
  (includes/announce.lua) with the term's next revision.

  Input:
    KEYS[1] state: the election's hash (layout in includes/read-leader.lua)
    ARGV[1] owner token of the leader
    ARGV[2] the new value
    ARGV[3] keyspace channel of the state, where terms are announced ('shard:<channel>' on a Cluster: includes/wake.lua)

  Output:
    1 proclaimed, 0 this token does not lead (its term is over)
]]
--- @include "server-time"
--- @include "read-leader"
--- @include "announce"
local nowMs = serverTime()
local state, token, value, channel = KEYS[1], ARGV[1], ARGV[2], ARGV[3]

local leader = readLeader(state, nowMs)
if leader == nil or leader.token ~= token then return 0 end
redis.call('HSET', state, 'wv', value)
local rev = redis.call('HINCRBY', state, 'wr', 1)
announce(channel, 'term:' .. leader.fenceText .. ':' .. rev .. ':' .. (leader.expiry - nowMs) .. ':' .. value)
return 1
