--- @include "next-fence"
--- @include "format-reader"
--- @include "keep-alive"
--- @include "set-label"
--[[
  Hands the lock to the head of the fair line (h.tickets, see read-holders)
  if it can hold now: a writer's ticket alone when nothing holds, the run of
  readers' tickets at the head when no writer holds. Each grant is a hold of
  the ticket's grace, marked g:<token> until its owner confirms it (its next
  attempt makes it a full hold); an owner that never does (a dead process)
  lets it lapse, and the line moves on. Tickets granted leave the line.

  Publishes 'grant:<seq>,<seq>...|<next seq or 0>|<graceMs>' on `channel`:
  only the processes owning those tickets act on it (the next in line arms a
  retry at the grace, in case the grantee is gone). Returns the number of
  grants made.
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
  local nextSeq = rest[1] and rest[1].seq or 0
  redis.call('PUBLISH', channel, 'grant:' .. table.concat(seqs, ',') .. '|' .. nextSeq .. '|' .. longest)
  return #granted
end
