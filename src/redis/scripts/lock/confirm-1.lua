--[[
  Confirms that an owner token holds the lock, for `replicas`: rewrites the
  hold unchanged, so that the last write of the connection running it comes
  after the acquisition in the primary's replication stream. WAIT, sent next
  on that same connection, then counts the replicas that have the hold,
  whichever connection took it.

  Input:
    KEYS[1] state hash (layout in includes/read-holders.lua)
    ARGV[1] owner token
    ARGV[2] mode: 'w' or 'r'

  Output:
    1 the token holds the lock (and its hold was rewritten), 0 it does not
]]
--- @include "server-time"
--- @include "parse-expiring"
local nowMs = serverTime()
local state, token, mode = KEYS[1], ARGV[1], ARGV[2]

if mode == 'r' then
  local own = redis.call('HGET', state, 'r:' .. token)
  if not own or (parseExpiring(own) or 0) <= nowMs then return 0 end
  redis.call('HSET', state, 'r:' .. token, own)
else
  local holder = redis.call('HMGET', state, 'w', 'wx')
  if holder[1] ~= token or tonumber(holder[2] or '0') <= nowMs then return 0 end
  redis.call('HSET', state, 'wx', holder[2])
end
return 1
