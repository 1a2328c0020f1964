--[[
  Confirms that an owner token holds permits, for `replicas`: rewrites its
  grant unchanged, so that WAIT, sent next on the same connection, counts
  the replicas that have it (see lock/confirm-1.lua).

  Input:
    KEYS[1] state hash (layout in includes/read-permits.lua)
    ARGV[1] owner token

  Output:
    1 the token holds permits (and its grant was rewritten), 0 it does not
]]
--- @include "server-time"
local nowMs = serverTime()
local state, token = KEYS[1], ARGV[1]
local value = redis.call('HGET', state, 'p:' .. token)
if not value then return 0 end
local expiry = tonumber(string.match(value, '^(%d+):') or '0')
if expiry <= nowMs then return 0 end
redis.call('HSET', state, 'p:' .. token, value)
return 1
