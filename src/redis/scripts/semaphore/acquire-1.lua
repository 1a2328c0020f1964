--[[
  Takes `permits` permits of a semaphore for an owner token, all at once or
  none, with a fencing token issued atomically (its counter is the hash's
  field f); or queues the token in the fair line. Checks the limit first:
  the stored one wins.

  Input:
    KEYS[1] state: the semaphore's hash (layout in includes/read-permits.lua)
    ARGV[1] owner token
    ARGV[2] permits wanted (>= 1)
    ARGV[3] the limit the caller passes, 0 for none
    ARGV[4] hold, ms: the fixed ttl or the lease to renew
    ARGV[5] fence retention, ms: how long the counter (and the limit) outlive the hold
    ARGV[6] '1' when the caller will wait if blocked (a fair caller then
            takes a ticket), '0' for a single attempt
    ARGV[7] '1' for a fair acquisition (FIFO line), '0' otherwise; while the
            line has tickets, every waiting acquisition queues in it
    ARGV[8] keyspace channel of the state, where wake-ups are published ('shard:<channel>' on a Cluster: includes/wake.lua)
    ARGV[9] the holder's label ('' for none), kept beside the grant
    ARGV[10..] tokens of other waiters of the same process whose tickets
            this attempt keeps alive (one command for all of them)

  Output:
    {1, fence, leftMs, 0, 0}
                       acquired; for a token that already holds (a retry of an
                       attempt whose reply was lost) the same fence and what
                       its grant has left
    {0, waitMs, queued, passOn, seq}
                       blocked; look again in about waitMs (the earliest
                       grant's expiry, or when a ticket needs keeping).
                       queued = 1 when the caller holds a ticket to withdraw
                       if it gives up; passOn = 1 when permits are free but
                       fewer than wanted (a smaller request may go now), or
                       when others are ahead of it in the fair line;
                       seq: the caller's ticket number (0: none)
    {-1, storedLimit, passedLimit, 0, 0}
                       the limit passed differs from the stored one: nothing changed
    {-2, 0, 0, 0, 0}   no limit stored and none passed: nothing changed
    {-3, storedLimit, 0, 0, 0}
                       more permits wanted than the stored limit: nothing changed
]]
--- @include "server-time"
--- @include "read-permits"
--- @include "format-grant"
--- @include "keep-alive"
--- @include "notify"
local nowMs, nowUs = serverTime()
local state = KEYS[1]
local token, permits, limit, hold, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local waits, fair, channel, label = ARGV[6] == '1', ARGV[7] == '1', ARGV[8], ARGV[9]

local s = readPermits(state, nowMs, true)

-- Already holding: a retry of an attempt whose reply was lost keeps its grant.
local own = s.grantOf[token]
if own then return {1, own.fence, own.expiry - nowMs, 0, 0} end

local stored = s.limit
if stored ~= nil and limit ~= 0 and limit ~= stored then return {-1, stored, limit, 0, 0} end
if stored == nil and limit == 0 then return {-2, 0, 0, 0, 0} end
if permits > (stored or limit) then return {-3, stored or limit, 0, 0, 0} end
if stored == nil then
  stored = limit
  redis.call('HSET', state, 'lim', limit)
  keepAlive(state, retention) -- a new hash: it keeps its limit a retention
end

local free = stored - s.held
local wait = hold
if s.earliest ~= nil then wait = s.earliest - nowMs end

local function take()
  -- The next fence: one more than the last, never behind the server clock in
  -- microseconds (so fences keep increasing after the hash expired or was
  -- lost; see includes/next-fence.lua).
  local fence = tonumber(s.fence or '0') + 1
  if fence < nowUs then fence = nowUs end
  local fenceText = string.format('%.0f', fence)
  local expiry = nowMs + hold
  redis.call('HSET', state, 'p:' .. token, formatGrant(expiry, fenceText, permits, string.format('%.0f', nowMs) .. ':' .. label), 'f', fenceText)
  -- The hash lives a fence retention past its latest grant (and tickets).
  local latest = math.max(expiry, s.latest or 0, s.ticketLatest or 0)
  redis.call('PEXPIRE', state, latest - nowMs + retention)
  -- Blocked waiters look again at the earliest expiry they were told of; a
  -- grant that ends before it (a short ttl) must tell them, or they would
  -- sleep past its end. Rare: leases of one length always end later.
  if (s.earliest == nil and #s.tickets > 0) or (s.earliest ~= nil and expiry < s.earliest) then notify(channel, '') end
  return {1, fence, hold, 0, 0}
end

if not fair and #s.tickets == 0 then
  -- No line: whoever fits takes, so a big request never holds up smaller ones.
  if permits <= free then return take() end
  return {0, wait, 0, free > 0 and 1 or 0, 0}
end

-- The fair line: tickets in the order their first blocked attempts came.
-- A ticket lives one hold of its owner and is kept alive by its owner's
-- process (every hold / 3); an owner that dies loses its place within that.
local ticketLife = hold
local function keepTicket(ticket)
  ticket.expiry = nowMs + ticketLife
  redis.call('HSET', state, 't:' .. ticket.token, string.format('%.0f', ticket.expiry) .. ':' .. ticket.seq .. ':' .. ticket.permits)
  keepAlive(state, ticketLife + retention)
end
for i = 10, #ARGV do
  local other = s.ticketOf[ARGV[i]]
  if other ~= nil then keepTicket(other) end
end

local mine = s.ticketOf[token]
if mine == nil and #s.tickets == 0 and permits <= free then return take() end
if mine == nil then
  if not waits then return {0, wait, 0, 0, 0} end
  mine = { token = token, seq = redis.call('HINCRBY', state, 'ts', 1), permits = permits }
  s.tickets[#s.tickets + 1] = mine
end
if s.tickets[1] == mine and permits <= free then
  redis.call('HDEL', state, 't:' .. token)
  local taken = take()
  -- The next in line may fit in what is left: tell the other processes.
  if #s.tickets > 1 and free - permits > 0 then notify(channel, '') end
  return taken
end
keepTicket(mine)
-- Behind others in the line: one of them may be the next waiter of the
-- caller's own process (local order need not be ticket order), so let it try.
local behind = s.tickets[1] ~= mine and 1 or 0
return {0, math.min(wait, math.max(1, math.floor(hold / 3))), 1, behind, mine.seq}
