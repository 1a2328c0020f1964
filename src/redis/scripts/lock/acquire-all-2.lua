--[[
  Takes the locks of several names for one owner token, all or none, in one
  atomic step (lockAll$). Each name is an ordinary lock of its own: the same
  hash and fence counter as acquire-2.lua's, with the same writer or reader
  fields, fence and label, so a single lock of any of the names excludes (or
  shares with) it as usual. It never joins a fair line: a name whose line has
  tickets blocks it until the line is empty.

  Input:
    KEYS[2i-1] state of name i: its hash (layout in includes/read-holders.lua)
    KEYS[2i]   fence of name i: its fencing counter
               (2 keys per name, any number of names, all in one slot on a
               Cluster)
    ARGV[1] owner token
    ARGV[2] mode: 'w' (exclusive, write) or 'r' (read), for every name
    ARGV[3] hold, ms: the fixed ttl or the lease to renew
    ARGV[4] fence retention, ms
    ARGV[5] '1' when the caller will wait if blocked (a writer then leaves
            its mark on the first blocked name), '0' for a single attempt
    ARGV[6] the holder's label ('' for none), kept beside each hold

  Output:
    {1, fence1, leftMs, 0, 0, fence1, ..., fenceN}
                       acquired every name; leftMs of the hold left (the
                       hold itself when just taken; for names this token
                       already held, a retry of an attempt whose reply was
                       lost, the least they have left)
    {0, waitMs, queued, blocker, 0}
                       blocked, nothing taken; look again in about waitMs (the
                       latest expiry of what blocks it). queued = 1 when the
                       caller left a writer's mark to withdraw if it gives up.
                       blocker, of the first blocked name: 1 a writer holds,
                       2 readers hold, 3 a writer's mark holds this reader
                       back, 4 the fair line is ahead
]]
--- @include "server-time"
--- @include "read-holders"
--- @include "parse-expiring"
--- @include "keep-alive"
--- @include "take-hold"
local nowMs, nowUs = serverTime()
local token, mode, hold, retention, waits, label = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5], ARGV[6]
local count = #KEYS / 2

-- What this token already holds of a name (a resent attempt): its fence and expiry.
local function own(h, state)
  if h.writer == token then return h.writerFence, h.writerExpiry end
  if mode == 'r' and h.readers > 0 then
    local value = redis.call('HGET', state, 'r:' .. token)
    if value then
      local expiry, fenceText = parseExpiring(value)
      if expiry > nowMs then return fenceText, expiry end
    end
  end
  return nil
end

-- What keeps this token from a name, as acquire-2.lua's unfair path sees it:
-- blocker (nil: free) and until when.
local function blocker(h)
  if h.writer then return 1, h.writerExpiry end
  if #h.tickets > 0 then return 4, h.latest end
  if mode == 'r' then
    if h.queued > 0 then return 3, h.queuedExpiry end
  elseif h.readers > 0 then
    return 2, h.readerExpiry
  end
  return nil
end

local holders, fences = {}, {}
local first, firstIndex, waitUntil = nil, nil, 0
local left = hold
for i = 1, count do
  local state = KEYS[2 * i - 1]
  local h = readHolders(state, nowMs, true)
  holders[i] = h
  local fenceText, expiry = own(h, state)
  if fenceText then
    fences[i] = tonumber(fenceText)
    if expiry - nowMs < left then left = expiry - nowMs end
  else
    local by, untilMs = blocker(h)
    if by then
      if first == nil then first, firstIndex = by, i end
      if untilMs > waitUntil then waitUntil = untilMs end
    end
  end
end

if first ~= nil then
  -- A writer marks only the first name it is blocked on, and only where
  -- readers block it: a mark on a later name would hold readers back from
  -- it while this writer waits for an earlier one, against the one order
  -- all names are taken in (that could deadlock). Marks it left before on
  -- other names (while blocked on those) go.
  local queued = 0
  for i = 1, count do
    local state, h = KEYS[2 * i - 1], holders[i]
    if i == firstIndex and first == 2 and waits == '1' then
      redis.call('HSET', state, 'q:' .. token, nowMs + hold)
      keepAlive(state, hold)
      queued = 1
    elseif mode == 'w' and h.queued > 0 then
      redis.call('HDEL', state, 'q:' .. token)
    end
  end
  return {0, math.max(1, waitUntil - nowMs), queued, first, 0}
end

local reply = {1, 0, left, 0, 0}
for i = 1, count do
  if fences[i] == nil then
    fences[i] = takeHold(KEYS[2 * i - 1], KEYS[2 * i], holders[i], token, mode, hold, retention, nowMs, nowUs, label)
  end
  reply[5 + i] = fences[i]
end
reply[2] = fences[1]
return reply
