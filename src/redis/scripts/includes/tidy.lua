--- @include "read-holders"
-- After something left: drop expired fields and let the hash live only as
-- long as what is still live in it (a withdrawn mark may have kept it long).
-- Returns the holders left, or nil when the hash is gone.
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
