--[[
  Frees the lock from every holder, readers included (PyYADL's
  release(force=True) of a write lock).

  Input:
    KEYS[1] state hash (see acquire-2.lua)
    ARGV[1] keyspace channel of the state, to publish wake-ups on
    ARGV[2] release id for the wake-up message ('' for none)

  Output:
    1 when the lock existed, 0 when it was already free
]]
--- @include "notify"
local state, channel, releaseId = KEYS[1], ARGV[1], ARGV[2]
local existed = redis.call('DEL', state)
if existed == 1 then notify(channel, releaseId) end
return existed
