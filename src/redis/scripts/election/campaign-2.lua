--[[
  Campaigns in an election: makes an owner token the leader, with a new
  fence (the term's number, issued as lock fences are), unless a live leader
  holds it, or unless this candidate resigned and no other candidate has
  started a term since (it goes to the back of the line). Announces the new
  term on the channel (includes/announce.lua).

  Input:
    KEYS[1] state: the election's hash (layout in includes/read-leader.lua)
    KEYS[2] fence: the election's fencing counter
    ARGV[1] owner token (one per attempt at a term)
    ARGV[2] lease, ms
    ARGV[3] fence retention, ms
    ARGV[4] candidate id: the same for every term of one candidacy
    ARGV[5] the leader's value
    ARGV[6] keyspace channel of the state, where terms are announced ('shard:<channel>' on a Cluster: includes/wake.lua)

  Output (the shape of lock/acquire-2.lua's):
    {1, fence, leftMs, 0, 0}    leader: a new term of leftMs, or, for a token
                                that already leads (a resent attempt), its
                                fence and what its lease has left
    {0, waitMs, 0, blocker, 0}  not now: look again in about waitMs;
                                blocker 1 a live leader (until its expiry),
                                4 this candidate resigned (until the record's)
]]
--- @include "server-time"
--- @include "read-leader"
--- @include "next-fence"
--- @include "announce"
local nowMs, nowUs = serverTime()
local state, fenceKey = KEYS[1], KEYS[2]
local token, hold, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])
local candidate, value, channel = ARGV[4], ARGV[5], ARGV[6]

local leader = readLeader(state, nowMs)
if leader ~= nil then
  if leader.token == token then return {1, tonumber(leader.fenceText), leader.expiry - nowMs, 0, 0} end
  return {0, leader.expiry - nowMs, 0, 1, 0}
end
local resigned = redis.call('HGET', state, 'rs')
if resigned then
  local untilMs, who = string.match(resigned, '^(%d+):(.*)$')
  if untilMs == nil then error('YADLSTATE election state at ' .. state .. ' was not written by yadl') end
  if who == candidate and tonumber(untilMs) > nowMs then return {0, tonumber(untilMs) - nowMs, 0, 4, 0} end
end

local fence, fenceText = nextFence(fenceKey, nowUs, hold + retention)
redis.call('DEL', state)
redis.call('HSET', state, 'w', token, 'wf', fenceText, 'wx', nowMs + hold, 'wv', value, 'wr', 0)
redis.call('PEXPIRE', state, hold)
announce(channel, 'term:' .. fenceText .. ':0:' .. hold .. ':' .. value)
return {1, fence, hold, 0, 0}
