--- @include "parse-expiring"
--- @include "extend-hold"
-- Renews the hold of `token` (mode 'w' or 'r') to `hold` ms from `nowMs`, or
-- only checks it when `hold` is 0: ms left of the hold, or 0 when this token
-- no longer holds the lock.
local function renewHold(state, fenceKey, token, mode, hold, retention, nowMs)
  local expiry, fenceText
  if mode == 'r' then
    local own = redis.call('HGET', state, 'r:' .. token)
    if not own then return 0 end
    expiry, fenceText = parseExpiring(own)
  else
    local holder = redis.call('HMGET', state, 'w', 'wx')
    if holder[1] ~= token then return 0 end
    expiry = tonumber(holder[2])
  end
  if expiry == nil or expiry <= nowMs then return 0 end
  if hold == 0 then return expiry - nowMs end

  extendHold(state, fenceKey, token, mode, fenceText, nowMs, hold, retention)
  return hold
end
