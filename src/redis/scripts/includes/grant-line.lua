--- @include "next-fence"
--- @include "format-reader"
--- @include "keep-alive"
--- @include "set-label"
--- @include "wake"
--[[
  Hands the lock to the head of the fair line (h.tickets, see read-holders)
  if it can hold now: a writer's ticket alone when nothing holds, the run of
  readers' tickets at the head when no writer holds. Each grant is a hold of
  the ticket's grace, marked g:<token> until its owner confirms it (its next
  attempt makes it a full hold); an owner that never does (a dead process)
  lets it lapse, and the line moves on. Tickets granted leave the line.

  Publishes 'grant:<seq>,<seq>...|<next seqs>|<graceMs>' on `channel` (see wake.lua):
  only the processes owning those tickets act on it. The next few in line
  (up to 4, comma-separated) arm a retry at 1, 2, 3... graces, in case the
  grantee and those before them are gone; nh records from when the first of
  them is due at the head (see skipLapsedHeads in acquire-2.lua). Returns
  the number of grants made.
]]
local function grantLine(state, fenceKey, h, nowMs, nowUs, retention, channel)
  local line = h.tickets
  if #line == 0 or h.writer then return 0 end
  local head = line[1]
  local granted = {}
  if head.mode == 'w' then
    if h.readers > 0 then return 0 end
    granted[1] = head
  else
    for _, ticket in ipairs(line) do
      if ticket.mode ~= 'r' then break end
      granted[#granted + 1] = ticket
    end
  end
  local seqs = {}
  local longest = 0
  for _, ticket in ipairs(granted) do
    local _, fenceText = nextFence(fenceKey, nowUs, ticket.grace + retention)
    local expiry = nowMs + ticket.grace
    if ticket.mode == 'w' then
      redis.call('HSET', state, 'w', ticket.token, 'wf', fenceText, 'wx', expiry)
      h.writer, h.writerExpiry = ticket.token, expiry
    else
      redis.call('HSET', state, 'r:' .. ticket.token, formatReader(expiry, fenceText))
      h.readers = h.readers + 1
      if h.readerExpiry == nil or expiry < h.readerExpiry then h.readerExpiry = expiry end
    end
    redis.call('HSET', state, 'g:' .. ticket.token, expiry)
    setLabel(state, ticket.token, ticket.mode, expiry, nowMs, ticket.label)
    redis.call('HDEL', state, 't:' .. ticket.token)
    h.ticketOf[ticket.token] = nil
    if ticket.grace > longest then longest = ticket.grace end
    seqs[#seqs + 1] = ticket.seq
  end
  local rest = {}
  for i = #granted + 1, #line do rest[#rest + 1] = line[i] end
  h.tickets = rest
  keepAlive(state, longest)
  local nexts = {}
  for i = 1, math.min(4, #rest) do nexts[i] = rest[i].seq end
  if rest[1] then
    redis.call('HSET', state, 'nh', rest[1].seq .. ':' .. string.format('%.0f', nowMs + longest))
  else
    redis.call('HDEL', state, 'nh')
  end
  wake(channel, 'grant:' .. table.concat(seqs, ',') .. '|' .. table.concat(nexts, ',') .. '|' .. longest)
  return #granted
end
