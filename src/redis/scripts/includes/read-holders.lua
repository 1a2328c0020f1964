--- @include "parse-expiring"
--[[
  The layout of a lock's state hash, described here once:
    w  = the writer's owner token      wf = its fence   wx = its expiry
    wl = '<since>:<label>'             who the writer is (for operators) and
                                       when its hold began; goes with w
    r:<token> = '<expiry>:<fence>'     one field per reader
    q:<token> = '<expiry>'             a writer waiting for readers to leave
    t:<token> = '<expiry>:<seq>:<mode>:<graceMs>:<label>'
                                       a ticket in the fair line, mode 'w' or 'r'
    ts = the last ticket number issued
    nh = '<seq>:<since>'                the ticket expected at the head of a
                                       free lock from `since` (server ms), once
                                       the grant ahead of it lapses
    g:<token> = '<expiry>'             a hold granted to a ticket's owner by
                                       another's release, not yet confirmed
    l:<token> = '<expiry>:<since>:<label>'
                                       the same for a reader; it lives and
                                       goes with the reader's hold
  Expiries are server milliseconds.

  Compatibility (see README, "Rolling upgrades"): every yadl field name is a
  tag of one or two lowercase letters, alone or followed by ':'. A field of
  that shape this version does not know is left alone (a newer version's),
  and keeps the hash alive until the expiry its value starts with, if it
  starts with one. A hash with no field of that shape is not yadl's.

  readHolders returns the live holders at nowMs; with prune, expired reader
  and mark fields are deleted on the way (nothing else removes a dead
  reader's field while others keep the hash alive):
    h.writer, h.writerFence, h.writerExpiry   the writer, or nil
    h.readers, h.readerExpiry, h.readerLatest live readers, earliest and latest expiry
    h.queued, h.queuedExpiry                  writers waiting on readers, earliest expiry
    h.tickets                                 the fair line: { token, seq, mode, grace,
                                              label, expiry }, in ticket order
    h.ticketOf[token]                         the same entries by owner
    h.latest                                  the latest expiry of anything live (0: none)
    h.only                                    no field but a live writer's (or none)
]]
local function readHolders(state, nowMs, prune)
  local h = { readers = 0, queued = 0, only = true, latest = 0, tickets = {}, ticketOf = {} }
  -- One HGETALL for every shape: the exclusive lock's hash holds at most the
  -- writer's four fields, and a larger one is read whole anyway (HMGET + HLEN
  -- first cost the common case a command more).
  local fields = redis.call('HGETALL', state)
  if #fields == 0 then return h end
  local w, wf, wx, wl
  for i = 1, #fields, 2 do
    local field = fields[i]
    if field == 'w' then w = fields[i + 1]
    elseif field == 'wf' then wf = fields[i + 1]
    elseif field == 'wx' then wx = fields[i + 1]
    elseif field == 'wl' then wl = fields[i + 1] end
  end
  local writerFields = 0
  if w then
    writerFields = wl and 4 or 3
    local expiry = tonumber(wx)
    if expiry == nil or wf == nil then
      error('YADLSTATE lock state at ' .. state .. ' was not written by yadl')
    end
    if expiry > nowMs then
      h.writer, h.writerFence, h.writerExpiry, h.latest = w, wf, expiry, expiry
    elseif prune then
      redis.call('HDEL', state, 'w', 'wf', 'wx', 'wl')
    end
  end
  -- Fast path: nothing but a writer's fields (the exclusive lock's only shape),
  -- live, or expired and pruned just now.
  if #fields == 2 * writerFields and (h.writer or prune) then return h end
  h.only = false

  local expired = {}
  local ours = writerFields > 0
  for i = 1, #fields, 2 do
    local field, value = fields[i], fields[i + 1]
    local tag = string.match(field, '^(%l%l?):') or string.match(field, '^(%l%l?)$')
    if tag ~= nil then ours = true end
    if tag == 'r' or tag == 'q' or tag == 't' or tag == 'g' or tag == 'l' then
      local expiry, rest = parseExpiring(value)
      if expiry == nil then
        error('YADLSTATE lock state at ' .. state .. ' was not written by yadl')
      end
      if expiry <= nowMs then
        expired[#expired + 1] = field
      else
        if expiry > h.latest then h.latest = expiry end
        if tag == 'r' then
          h.readers = h.readers + 1
          if h.readerExpiry == nil or expiry < h.readerExpiry then h.readerExpiry = expiry end
          if h.readerLatest == nil or expiry > h.readerLatest then h.readerLatest = expiry end
        elseif tag == 'q' then
          h.queued = h.queued + 1
          if h.queuedExpiry == nil or expiry < h.queuedExpiry then h.queuedExpiry = expiry end
        elseif tag == 't' then
          local seq, mode, grace, label = string.match(rest or '', '^(%d+):([rw]):(%d+):?(.*)$')
          if seq == nil then error('YADLSTATE lock state at ' .. state .. ' was not written by yadl') end
          local ticket = {
            token = string.sub(field, 3), seq = tonumber(seq), mode = mode, grace = tonumber(grace), label = label, expiry = expiry
          }
          h.tickets[#h.tickets + 1] = ticket
          h.ticketOf[ticket.token] = ticket
        end
      end
    elseif tag ~= nil and tag ~= 'w' and tag ~= 'wf' and tag ~= 'wx' and tag ~= 'wl' and tag ~= 'ts' and tag ~= 'nh' then
      -- A newer version's field: not ours to judge, but it keeps the hash alive.
      local expiry = parseExpiring(value)
      if expiry ~= nil and expiry > h.latest and expiry > nowMs then h.latest = expiry end
    end
  end
  if not ours then error('YADLSTATE lock state at ' .. state .. ' was not written by yadl') end
  table.sort(h.tickets, function(a, b) return a.seq < b.seq end)
  if prune and #expired > 0 then redis.call('HDEL', state, unpack(expired)) end
  return h
end
