-- The live holders of a lock's state hash at nowMs. With prune, expired
-- fields are deleted on the way (nothing else removes a dead reader's field
-- while others keep the hash alive).
--   h.writer, h.writerFence, h.writerExpiry   the writer, or nil
--   h.readers, h.readerExpiry                 live readers, earliest expiry
--   h.queued, h.queuedExpiry                  writers waiting on readers, earliest expiry
--   h.latest                                  the latest expiry of anything live (0: none)
local function readHolders(state, nowMs, prune)
  -- only: no field but a live writer's (or none at all), so no marks to tidy
  local h = { readers = 0, queued = 0, only = true, latest = 0 }
  local writer = redis.call('HMGET', state, 'w', 'wf', 'wx')
  local writerFields = 0
  if writer[1] then
    writerFields = 3
    local expiry = tonumber(writer[3])
    if expiry == nil or writer[2] == false then
      error('YADLSTATE lock state at ' .. state .. ' was not written by yadl')
    end
    if expiry > nowMs then
      h.writer, h.writerFence, h.writerExpiry, h.latest = writer[1], writer[2], expiry, expiry
    elseif prune then
      redis.call('HDEL', state, 'w', 'wf', 'wx')
    end
  end
  -- Fast path: nothing but a writer (the exclusive lock's only shape).
  if redis.call('HLEN', state) == (h.writer and writerFields or 0) then return h end
  h.only = false

  local fields = redis.call('HGETALL', state)
  local expired = {}
  for i = 1, #fields, 2 do
    local field, value = fields[i], fields[i + 1]
    local kind = string.sub(field, 1, 2)
    if kind == 'r:' or kind == 'q:' then
      local expiry = tonumber(string.match(value, '^(%d+)'))
      if expiry == nil then
        error('YADLSTATE lock state at ' .. state .. ' was not written by yadl')
      end
      if expiry <= nowMs then
        expired[#expired + 1] = field
      else
        if expiry > h.latest then h.latest = expiry end
        if kind == 'r:' then
          h.readers = h.readers + 1
          if h.readerExpiry == nil or expiry < h.readerExpiry then h.readerExpiry = expiry end
        else
          h.queued = h.queued + 1
          if h.queuedExpiry == nil or expiry < h.queuedExpiry then h.queuedExpiry = expiry end
        end
      end
    elseif field ~= 'w' and field ~= 'wf' and field ~= 'wx' then
      error('YADLSTATE lock state at ' .. state .. ' was not written by yadl')
    end
  end
  if prune and #expired > 0 then redis.call('HDEL', state, unpack(expired)) end
  return h
end

-- The hash lives as long as its longest hold: only ever extend it.
local function keepAlive(state, ms)
  if redis.call('PTTL', state) < ms then redis.call('PEXPIRE', state, ms) end
end

-- After something left: drop expired fields and let the hash live only as
-- long as what is still live in it (a withdrawn mark may have kept it long).
local function tidy(state, nowMs)
  if redis.call('EXISTS', state) == 0 then return nil end
  local h = readHolders(state, nowMs, true)
  if h.latest > nowMs then
    redis.call('PEXPIRE', state, h.latest - nowMs)
  else
    redis.call('DEL', state)
  end
  return h
end
