--[[
  Releases the hold of one owner token.

  Input:
    KEYS[1] state hash (see acquire-2.lua)
    ARGV[1] owner token
    ARGV[2] keyspace channel of the state to publish the release on, or ''
            when keyspace notifications are known to report it

  Output:
    1   released
    0   the lock was free (or this token's hold had expired): nothing changed
    -1  another owner holds it: nothing changed
]]
--- @include "clock"
--- @include "notify"
local state = KEYS[1]
local token, channel = ARGV[1], ARGV[2]

local holder = redis.call('HMGET', state, 'w', 'wx')
local live = holder[1] and tonumber(holder[2]) and tonumber(holder[2]) > nowMs
if not live then return 0 end
if holder[1] ~= token then return -1 end

if redis.call('HLEN', state) <= 3 then
  redis.call('DEL', state)
  notify(channel, 'del')
else
  redis.call('HDEL', state, 'w', 'wf', 'wx')
  notify(channel, 'hdel')
end
return 1
