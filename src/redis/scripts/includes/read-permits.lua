--[[
  The layout of a semaphore's state hash, described here once:
    lim = the limit in force (a whole number >= 1), stored by the first
          acquisition or by setLimit; it goes with the hash
    p:<token> = '<expiry>:<fence>:<permits>:<since>:<label>'
          one grant: `permits` permits held by one owner token until
          `expiry`, with its fence, since when, and who holds (for operators)
    t:<token> = '<expiry>:<seq>:<permits>'
          a ticket in the fair line, kept alive by its owner's process
    ts  = the last ticket number issued
    f   = the last fence issued (see includes/next-fence.lua for the rule)
  Expiries are server milliseconds. The hash lives one fence retention past
  its latest grant's expiry (and past its last write), so that the limit and
  the fence counter outlive the holds, as a lock's fence counter does (see
  README, "Semaphores").

  readPermits returns, at nowMs (with prune, expired grants and tickets are
  deleted on the way):
    s.limit                  the stored limit, or nil
    s.fence                  the last fence issued (text), or nil
    s.held                   permits held by live grants
    s.earliest, s.latest     earliest and latest expiry of a live grant (nil: none)
    s.ticketLatest           latest expiry of a live ticket (nil: none)
    s.grantOf[token]         { expiry, fence, permits, rest } of a live grant
    s.tickets, s.ticketOf    the fair line: { token, seq, permits, expiry }, in ticket order
]]
local function readPermits(state, nowMs, prune)
  local s = { held = 0, grantOf = {}, tickets = {}, ticketOf = {} }
  local fields = redis.call('HGETALL', state)
  local expired = {}
  local function foreign()
    error('YADLSTATE semaphore state at ' .. state .. ' was not written by yadl')
  end
  for i = 1, #fields, 2 do
    local field, value = fields[i], fields[i + 1]
    local tag, token = string.match(field, '^(%l):(.+)$')
    if field == 'lim' then
      s.limit = tonumber(value)
      if s.limit == nil then foreign() end
    elseif field == 'f' then
      if tonumber(value) == nil then foreign() end
      s.fence = value
    elseif tag == 'p' then
      local expiry, fence, permits, rest = string.match(value, '^(%d+):(%d+):(%d+):?(.*)$')
      if expiry == nil then foreign() end
      expiry = tonumber(expiry)
      if expiry <= nowMs then
        expired[#expired + 1] = field
      else
        permits = tonumber(permits)
        s.grantOf[token] = { expiry = expiry, fence = tonumber(fence), permits = permits, rest = rest }
        s.held = s.held + permits
        if s.earliest == nil or expiry < s.earliest then s.earliest = expiry end
        if s.latest == nil or expiry > s.latest then s.latest = expiry end
      end
    elseif tag == 't' then
      local expiry, seq, permits = string.match(value, '^(%d+):(%d+):(%d+)$')
      if expiry == nil then foreign() end
      expiry = tonumber(expiry)
      if expiry <= nowMs then
        expired[#expired + 1] = field
      else
        local ticket = { token = token, seq = tonumber(seq), permits = tonumber(permits), expiry = expiry }
        s.tickets[#s.tickets + 1] = ticket
        s.ticketOf[token] = ticket
        if s.ticketLatest == nil or expiry > s.ticketLatest then s.ticketLatest = expiry end
      end
    elseif field ~= 'ts' then
      foreign()
    end
  end
  table.sort(s.tickets, function(a, b) return a.seq < b.seq end)
  if prune and #expired > 0 then redis.call('HDEL', state, unpack(expired)) end
  return s
end
