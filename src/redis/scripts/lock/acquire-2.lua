--[[
  Takes the lock for an owner token, exclusively ('w') or shared ('r'), with
  a fencing token issued atomically; or queues the token in the fair line.

  Input:
    KEYS[1] state: the lock's hash (layout in includes/read-holders.lua)
    KEYS[2] fence: the name's fencing counter (a string holding an integer)
    ARGV[1] owner token
    ARGV[2] mode: 'w' (exclusive, write) or 'r' (read)
    ARGV[3] hold, ms: the fixed ttl or the lease to renew
    ARGV[4] fence retention, ms: how long the counter outlives the hold
    ARGV[5] '1' when the caller will wait if blocked (a writer then leaves
            its mark, a fair caller takes a ticket), '0' for a single attempt
    ARGV[6] '1' for a fair acquisition (FIFO line), '0' otherwise; while the
            line has tickets, every waiting acquisition queues in it
    ARGV[7] handoff grace, ms: how long a hold granted to this token by
            another's release waits for its confirmation
    ARGV[8] keyspace channel of the state, where grants are published ('shard:<channel>' on a Cluster: includes/wake.lua)
    ARGV[9] the holder's label ('' for none), kept beside the hold
    ARGV[10..] tokens of other waiters of the same process whose tickets
            this attempt keeps alive (one command for all of them)

  Output:
    {1, fence, leftMs, 0, 0}
                       acquired, with leftMs of the hold left (the hold itself
                       when just taken or when confirming a granted hold); for
                       a token that already holds it (a retry or resend of an
                       attempt whose reply was lost) the same fence and the
                       time its hold has left, which the first attempt started
    {0, waitMs, queued, blocker, seq}
                       blocked; look again in about waitMs (the blocking
                       hold's expiry, or when a place in the line needs
                       keeping). queued = 1 when the caller left something
                       to withdraw if it gives up (a writer's mark or a
                       ticket). blocker: 1 a writer holds, 2 readers hold,
                       3 a writer's mark holds this reader back, 4 the fair
                       line is ahead. seq: the caller's ticket number (0: none)
]]
--- @include "server-time"
--- @include "read-holders"
--- @include "parse-expiring"
--- @include "format-reader"
--- @include "next-fence"
--- @include "keep-alive"
--- @include "grant-line"
--- @include "format-ticket"
--- @include "set-label"
--- @include "extend-hold"
--- @include "take-hold"
local nowMs, nowUs = serverTime()
local state, fenceKey = KEYS[1], KEYS[2]
local token, mode, hold, retention, waits = ARGV[1], ARGV[2], tonumber(ARGV[3]), tonumber(ARGV[4]), ARGV[5]
local fair, grace, channel, label = ARGV[6] == '1', tonumber(ARGV[7]), ARGV[8], ARGV[9]

local h = readHolders(state, nowMs, true)

-- Already holding: a retry of an attempt whose reply was lost keeps the
-- hold's own expiry; a hold granted by another's release is confirmed here
-- and runs its full hold from now.
local function holding(fenceText, expiry)
  if redis.call('HDEL', state, 'g:' .. token) == 0 then
    return {1, tonumber(fenceText), expiry - nowMs, 0, 0}
  end
  extendHold(state, fenceKey, token, mode, fenceText, nowMs, hold, retention)
  return {1, tonumber(fenceText), hold, 0, 0}
end

if h.writer == token then return holding(h.writerFence, h.writerExpiry) end
if mode == 'r' and h.readers > 0 then
  local own = redis.call('HGET', state, 'r:' .. token)
  if own then
    local expiry, fenceText = parseExpiring(own)
    if expiry > nowMs then return holding(fenceText, expiry) end
  end
end

-- Takes the hold now, with a new fence.
local function take()
  return {1, takeHold(state, fenceKey, h, token, mode, hold, retention, nowMs, nowUs, label), hold, 0, 0}
end

local function canHold()
  if mode == 'r' then return not h.writer end
  return not h.writer and h.readers == 0
end

local function blockedBy()
  if h.writer then return 1, h.writerExpiry - nowMs end
  if h.readers > 0 then return 2, h.readerExpiry - nowMs end
  return 4, hold
end

if not fair and #h.tickets == 0 then
  -- No line: the first to come takes it, and writers are preferred.
  if h.writer then return {0, h.writerExpiry - nowMs, 0, 1, 0} end
  if mode == 'r' then
    if h.queued > 0 then return {0, h.queuedExpiry - nowMs, 0, 3, 0} end
  elseif h.readers > 0 then
    local wait = h.readerExpiry - nowMs
    if waits ~= '1' then return {0, wait, 0, 2, 0} end
    -- The mark lives one hold of the writer: a writer that dies stops holding
    -- readers back within its own lease. A live one refreshes it by retrying
    -- at least every hold / 3 while it waits.
    redis.call('HSET', state, 'q:' .. token, nowMs + hold)
    keepAlive(state, hold)
    return {0, wait, 1, 2, 0}
  end
  return take()
end

-- The fair line: tickets in the order their first blocked attempts came.
-- A ticket lives three holds of its owner and is kept alive by its owner's
-- process; an owner that dies loses its place within that.
local ticketLife = 3 * hold
for i = 10, #ARGV do
  local other = h.ticketOf[ARGV[i]]
  if other ~= nil then
    other.expiry = nowMs + ticketLife
    redis.call('HSET', state, 't:' .. other.token, formatTicket(other))
  end
end

-- Heads that had their turn at a free lock (a grant's grace after the grant
-- ahead of them lapsed) and let it pass are dead or gone: skip them, one
-- grace each, counted from when each was due (nh).
local function skipLapsedHeads()
  local nh = redis.call('HGET', state, 'nh')
  if not nh then return end
  local seq, since = string.match(nh, '^(%d+):(%d+)$')
  seq, since = tonumber(seq), tonumber(since)
  local skipped = false
  while #h.tickets > 0 and not h.writer do
    local head = h.tickets[1]
    if head.seq ~= seq or head.token == token or nowMs < since + head.grace then break end
    if head.mode == 'w' and h.readers > 0 then break end
    redis.call('HDEL', state, 't:' .. head.token)
    h.ticketOf[head.token] = nil
    table.remove(h.tickets, 1)
    since = since + head.grace
    seq = h.tickets[1] and h.tickets[1].seq or 0
    skipped = true
  end
  if not skipped then return end
  if seq == 0 then redis.call('HDEL', state, 'nh') else redis.call('HSET', state, 'nh', seq .. ':' .. string.format('%.0f', since)) end
end
skipLapsedHeads()

local mine = h.ticketOf[token]
if mine == nil and #h.tickets == 0 and canHold() then return take() end
if mine == nil then
  if waits ~= '1' then
    grantLine(state, fenceKey, h, nowMs, nowUs, retention, channel) -- a free lock moves its line on
    local blocker, wait = blockedBy()
    return {0, wait, 0, blocker, 0}
  end
  mine = { token = token, seq = redis.call('HINCRBY', state, 'ts', 1), mode = mode, grace = grace, label = label }
  h.tickets[#h.tickets + 1] = mine
  h.ticketOf[token] = mine
end
mine.expiry = nowMs + ticketLife
redis.call('HSET', state, 't:' .. token, formatTicket(mine))
keepAlive(state, ticketLife)

-- At the head (or in the run of readers at the head): take it if it can hold.
local function headRun()
  if #h.tickets == 0 then return 0 end
  if h.tickets[1].mode == 'w' then return 1 end
  local n = 0
  while h.tickets[n + 1] ~= nil and h.tickets[n + 1].mode == 'r' do n = n + 1 end
  return n
end
local function place()
  for i, ticket in ipairs(h.tickets) do
    if ticket == mine then return i end
  end
  return 0
end
local atHead = place() <= headRun()
if atHead and canHold() then
  redis.call('HDEL', state, 't:' .. token)
  local rest = {}
  for _, ticket in ipairs(h.tickets) do
    if ticket ~= mine then rest[#rest + 1] = ticket end
  end
  h.tickets = rest
  local taken = take()
  if mode == 'r' then
    -- The readers in line with it go in too.
    h.readers = h.readers + 1
    if h.readerExpiry == nil or nowMs + hold < h.readerExpiry then h.readerExpiry = nowMs + hold end
    grantLine(state, fenceKey, h, nowMs, nowUs, retention, channel)
  end
  return taken
end

-- Not yet. A free lock whose head is another hands itself on now.
local granted = grantLine(state, fenceKey, h, nowMs, nowUs, retention, channel)
local blocker, wait = blockedBy()
local at, run = place(), headRun()
-- A hold that ends unannounced (its process died) frees the lock at its
-- expiry: the head is due then, and skipped a grace later if it is gone too.
if granted == 0 and #h.tickets > 0 and (h.writer or (h.readers > 0 and h.readerLatest ~= nil)) then
  -- A writer at the head waits for the last reader; a reader, for the writer.
  local due = h.writer and h.writerExpiry or h.readerLatest
  local nh = redis.call('HGET', state, 'nh')
  local seq, since = string.match(nh or '', '^(%d+):(%d+)$')
  if tonumber(seq) ~= h.tickets[1].seq or tonumber(since) < due then
    redis.call('HSET', state, 'nh', h.tickets[1].seq .. ':' .. string.format('%.0f', due))
  end
end
if at > run then
  blocker = 4
  -- The first few after the head run look again when the turns ahead of
  -- them may have passed (one grace each after a grant, or after the
  -- holder's expiry, in case holder and heads are gone); the rest only keep
  -- their place, every hold.
  local behind = at - run
  if behind <= 4 then
    if granted > 0 then wait = behind * mine.grace else wait = math.min(wait + (behind - 1) * mine.grace, hold) end
  else
    wait = hold
  end
elseif granted > 0 then
  wait = mine.grace -- now at the head, behind a grant its owner may never confirm
else
  wait = math.min(wait, hold) -- at the head behind a long hold: keep the place alive meanwhile
end
return {0, wait, 1, blocker, mine.seq}
