--[[
  Frees the lock from every holder, readers and waiting writers' marks
  included (PyYADL's release(force=True) of a write lock). Fields of a newer
  version are left to that version (see includes/read-holders.lua).

  Input:
    KEYS[1] state hash (layout in includes/read-holders.lua)
    ARGV[1] keyspace channel of the state, to publish wake-ups on
    ARGV[2] release id for the wake-up message ('' for none)

  Output:
    1 when a writer or a reader held the lock, 0 when it was free
]]
--- @include "server-time"
--- @include "read-holders"
--- @include "tidy"
--- @include "notify"
local nowMs = serverTime()
local state, channel, releaseId = KEYS[1], ARGV[1], ARGV[2]
if redis.call('EXISTS', state) == 0 then return 0 end
local h = readHolders(state, nowMs, false)

local fields = redis.call('HKEYS', state)
local holds = {}
for _, field in ipairs(fields) do
  if field == 'w' or field == 'wf' or field == 'wx' or string.match(field, '^[rq]:') then holds[#holds + 1] = field end
end
if #holds > 0 then redis.call('HDEL', state, unpack(holds)) end
tidy(state, nowMs)
if #holds > 0 then notify(channel, releaseId) end
if h.writer or h.readers > 0 then return 1 end
return 0
