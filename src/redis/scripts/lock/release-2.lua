--[[
  Releases the hold of one owner token, and hands the lock to the head of
  the fair line if there is one (see includes/grant-line.lua).

  Input:
    KEYS[1] state hash (layout in includes/read-holders.lua)
    KEYS[2] fence counter (for the fences of holds granted to the line)
    ARGV[1] owner token
    ARGV[2] mode: 'w' or 'r'
    ARGV[3] keyspace channel of the state, to publish wake-ups on ('shard:<channel>' on a Cluster: includes/wake.lua)
    ARGV[4] release id for the wake-up message ('' for none)
    ARGV[5] fence retention, ms

  Output:
    1   released
    0   the lock was free (or this token's hold had expired): nothing changed
    -1  another owner holds it: nothing changed
]]
--- @include "server-time"
--- @include "parse-expiring"
--- @include "read-holders"
--- @include "tidy"
--- @include "grant-line"
--- @include "notify"
local nowMs, nowUs = serverTime()
local state, fenceKey = KEYS[1], KEYS[2]
local token, mode, channel, releaseId, retention = ARGV[1], ARGV[2], ARGV[3], ARGV[4], tonumber(ARGV[5])

local released = false
if mode == 'r' then
  local own = redis.call('HGET', state, 'r:' .. token)
  if own and parseExpiring(own) > nowMs then
    redis.call('HDEL', state, 'r:' .. token, 'g:' .. token, 'l:' .. token)
    released = true
  end
else
  local h = readHolders(state, nowMs, false)
  if h.writer == token then
    if h.only then
      -- The hash holds nothing but this hold (no line to grant it to, nothing
      -- to tidy): it goes whole, in one command.
      redis.call('DEL', state)
      notify(channel, releaseId)
      return 1
    end
    redis.call('HDEL', state, 'w', 'wf', 'wx', 'wl', 'g:' .. token)
    released = true
  elseif h.writer or h.readers > 0 then
    return -1
  else
    return 0
  end
end

if not released then
  local h = readHolders(state, nowMs, false)
  if h.writer or h.readers > 0 then return -1 end
  return 0
end

local left = tidy(state, nowMs)
if left ~= nil and grantLine(state, fenceKey, left, nowMs, nowUs, retention, channel) > 0 then return 1 end
-- Wake waiters when someone else may now acquire: not when a reader leaves
-- others still reading.
if mode == 'w' or left == nil or left.readers == 0 then
  notify(channel, releaseId)
end
return 1
