--- @include "parse-expiring"
-- Moves the expiry of a reader's label with its hold (a writer's label has
-- none of its own).
local function extendLabel(state, token, expiryMs)
  local field = 'l:' .. token
  local value = redis.call('HGET', state, field)
  if not value then return end
  local _, rest = parseExpiring(value)
  redis.call('HSET', state, field, string.format('%.0f', expiryMs) .. ':' .. (rest or ''))
end
