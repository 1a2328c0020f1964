--[[
  Reads a semaphore's limit and holders, changing nothing.

  Input:
    KEYS[1] state hash (layout in includes/read-permits.lua)
    ARGV[1] owner token to compare with ('' for none)

  Output:
    {limit, held, mine, waitMs, waiting}: the stored limit (0: none), the
    permits held by live grants, those of ARGV[1]'s grant, ms until the
    earliest grant expires (0 when nothing is held), tickets in the fair line
]]
--- @include "server-time"
--- @include "read-permits"
local nowMs = serverTime()
local state, token = KEYS[1], ARGV[1]
local s = readPermits(state, nowMs, false)
local own = s.grantOf[token]
local wait = s.earliest and (s.earliest - nowMs) or 0
return {s.limit or 0, s.held, own and own.permits or 0, wait, #s.tickets}
