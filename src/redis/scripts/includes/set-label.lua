--- @include "writer-label"
-- Records who holds (its label, '' for none) and since when, beside the
-- hold of `token` (see readHolders): the writer's in wl, which goes with
-- its other fields; a reader's in l:<token>, with the reader's expiry.
local function setLabel(state, token, mode, expiryMs, sinceMs, label)
  if label == '' then return end
  if mode == 'w' then
    redis.call('HSET', state, 'wl', writerLabel(sinceMs, label))
  else
    redis.call('HSET', state, 'l:' .. token, string.format('%.0f', expiryMs) .. ':' .. string.format('%.0f', sinceMs) .. ':' .. label)
  end
end
