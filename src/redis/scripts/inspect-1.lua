--[[
  Reads who holds the lock, changing nothing.

  Input:
    KEYS[1] state hash (see acquire-2.lua)
    ARGV[1] owner token to compare with ('' for none)

  Output:
    {held, mine, waitMs}: held 1 when a live hold exists; mine 1 when it is
    ARGV[1]'s; waitMs until it expires (0 when free)
]]
--- @include "clock"
local holder = redis.call('HMGET', KEYS[1], 'w', 'wx')
local expiry = tonumber(holder[2])
if not holder[1] or not expiry or expiry <= nowMs then return {0, 0, 0} end
return {1, holder[1] == ARGV[1] and 1 or 0, expiry - nowMs}
