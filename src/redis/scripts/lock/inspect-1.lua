--[[
  Reads who holds the lock, changing nothing.

  Input:
    KEYS[1] state hash (layout in includes/read-holders.lua)
    ARGV[1] owner token to compare with ('' for none)

  Output:
    {writer, readers, mine, waitMs, waiting}: writer 1 when a live writer
    holds it; readers, the number of live readers; mine 1 when ARGV[1] is one
    of the holders; waitMs until the earliest blocking hold expires (0 when
    free); waiting, the number of tickets in the fair line
]]
--- @include "server-time"
--- @include "parse-expiring"
--- @include "read-holders"
local nowMs = serverTime()
local state, token = KEYS[1], ARGV[1]
local h = readHolders(state, nowMs, false)
if h.writer then
  return {1, 0, h.writer == token and 1 or 0, h.writerExpiry - nowMs, #h.tickets}
end
if h.readers == 0 then return {0, 0, 0, 0, #h.tickets} end
local own = token ~= '' and redis.call('HGET', state, 'r:' .. token)
local mine = own and parseExpiring(own) > nowMs and 1 or 0
return {0, h.readers, mine, h.readerExpiry - nowMs, #h.tickets}
