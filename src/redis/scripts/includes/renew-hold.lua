--- @include "parse-expiring"
--- @include "extend-hold"
-- Keeps the hold of `token` (mode 'w' or 'r') on one lock alive for `hold`
-- ms from now, or with `hold` 0 only checks it. Returns the ms left of the
-- hold (> 0), or 0 when this token no longer holds the lock.
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
