--[[
  Frees the lock from every holder, readers and waiting writers' marks
  included (PyYADL's release(force=True) of a write lock), then hands it to
  the head of the fair line, if any: the line keeps its order. Fields of a
  newer version are left to that version (see includes/read-holders.lua).

  Input:
    KEYS[1] state hash (layout in includes/read-holders.lua)
    KEYS[2] fence counter (for the fences of holds granted to the line)
    ARGV[1] keyspace channel of the state, to publish wake-ups on ('shard:<channel>' on a Cluster: includes/wake.lua)
    ARGV[2] release id for the wake-up message ('' for none)
    ARGV[3] fence retention, ms

  Output:
    1 when a writer or a reader held the lock, 0 when it was free
]]
--- @include "server-time"
--- @include "read-holders"
--- @include "tidy"
--- @include "grant-line"
--- @include "notify"
local nowMs, nowUs = serverTime()
local state, fenceKey = KEYS[1], KEYS[2]
local channel, releaseId, retention = ARGV[1], ARGV[2], tonumber(ARGV[3])
if redis.call('EXISTS', state) == 0 then return 0 end
local h = readHolders(state, nowMs, false)

local holds = {}
for _, field in ipairs(redis.call('HKEYS', state)) do
  if field == 'w' or field == 'wf' or field == 'wx' or field == 'wl' or string.match(field, '^[rqgl]:') then holds[#holds + 1] = field end
end
if #holds > 0 then redis.call('HDEL', state, unpack(holds)) end
local left = tidy(state, nowMs)
local granted = left ~= nil and grantLine(state, fenceKey, left, nowMs, nowUs, retention, channel) > 0
if #holds > 0 and not granted then notify(channel, releaseId) end
if h.writer or h.readers > 0 then return 1 end
return 0
