--[[
  Takes the lock for an owner token, exclusively ('w') or shared ('r'), with
  a fencing token issued atomically.

  Input:
    KEYS[1] state: the lock's hash (layout in includes/read-holders.lua);
            a waiting writer's mark lives one hold of that writer from its
            last attempt
    KEYS[2] fence: the name's fencing counter (a string holding an integer)
    ARGV[1] owner token
    ARGV[2] mode: 'w' (exclusive, write) or 'r' (read)
    ARGV[3] hold, ms: the fixed ttl or the lease to renew
    ARGV[4] fence retention, ms: how long the counter outlives the hold
    ARGV[5] '1' when a writer blocked by readers will wait (and so leaves its
            mark), '0' for a single attempt

  Output:
    {1, fence, leftMs, 0}
                       acquired, with leftMs of the hold left (the hold itself
                       when just taken); for a token that already holds it
                       (a retry or resend of an attempt whose reply was lost)
                       the same fence and the time its hold has left, which
                       the first attempt started
    {0, waitMs, queued, blocker}
                       blocked until about waitMs from now, when the blocking
                       hold expires; queued = 1 when a writer left its mark so
                       that new readers queue behind it (writer preference);
                       blocker: 1 a writer holds, 2 readers hold, 3 a writer's
                       mark holds this reader back
]]
--- @include "server-time"
--- @include "read-holders"
--- @include "parse-expiring"
--- @include "format-reader"
--- @include "next-fence"
--- @include "keep-alive"
local nowMs, nowUs = serverTime()
local state, fenceKey = KEYS[1], KEYS[2]
local token, mode, hold, retention, waits = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]

local h = readHolders(state, nowMs, true)
if h.writer then
  if h.writer == token then return {1, tonumber(h.writerFence), h.writerExpiry - nowMs, 0} end
  return {0, h.writerExpiry - nowMs, 0, 1}
end

if mode == 'r' then
  local own = redis.call('HGET', state, 'r:' .. token)
  if own then
    local expiry, fence = parseExpiring(own)
    if expiry > nowMs then return {1, tonumber(fence), expiry - nowMs, 0} end
  end
  if h.queued > 0 then return {0, h.queuedExpiry - nowMs, 0, 3} end
elseif h.readers > 0 then
  local wait = h.readerExpiry - nowMs
  if waits ~= '1' then return {0, wait, 0, 2} end
  -- The mark lives one hold of the writer: a writer that dies stops holding
  -- readers back within its own lease. A live one refreshes it by retrying
  -- at least every hold / 3 while it waits.
  redis.call('HSET', state, 'q:' .. token, nowMs + hold)
  keepAlive(state, hold)
  return {0, wait, 1, 2}
end

local fence, fenceText = nextFence(fenceKey, nowUs, hold + retention)

if mode == 'r' then
  redis.call('HSET', state, 'r:' .. token, formatReader(nowMs + hold, fenceText))
else
  redis.call('HSET', state, 'w', token, 'wf', fenceText, 'wx', nowMs + hold)
  if not h.only then redis.call('HDEL', state, 'q:' .. token) end
end
if h.only then
  redis.call('PEXPIRE', state, hold) -- a new hash: this hold is its only one
else
  keepAlive(state, hold)
end
return {1, fence, hold, 0}
