--[[
  Frees the lock whoever holds it (PyYADL's release(force=True)).

  Input:
    KEYS[1] state hash (see acquire-2.lua)
    ARGV[1] keyspace channel of the state to publish the release on, or ''

  Output:
    1 when the lock existed, 0 when it was already free
]]
--- @include "notify"
local state, channel = KEYS[1], ARGV[1]
local existed = redis.call('DEL', state)
if existed == 1 then notify(channel, 'del') end
return existed
