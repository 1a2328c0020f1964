--- @include "format-reader"
--- @include "extend-label"
--- @include "keep-alive"
-- Extends the hold of `token` (mode 'w' or 'r', its fence `fenceText`) to
-- `hold` ms from now, with its label, the hash and the fence counter.
local function extendHold(state, fenceKey, token, mode, fenceText, nowMs, hold, retention)
  if mode == 'r' then
    redis.call('HSET', state, 'r:' .. token, formatReader(nowMs + hold, fenceText))
    extendLabel(state, token, nowMs + hold)
  else
    redis.call('HSET', state, 'wx', nowMs + hold)
  end
  keepAlive(state, hold)
  redis.call('PEXPIRE', fenceKey, hold + retention)
end
