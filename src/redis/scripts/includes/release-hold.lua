--- @include "parse-expiring"
--- @include "read-holders"
--- @include "tidy"
--- @include "grant-line"
--- @include "notify"
-- Releases the hold of `token` (mode 'w' or 'r') on one lock, hands the lock
-- to the head of its fair line if there is one, else wakes its waiters.
-- Returns 1 released, 0 the lock was free (or this token's hold had
-- expired), -1 another owner holds it.
local function releaseHold(state, fenceKey, token, mode, channel, releaseId, retention, nowMs, nowUs)
  local released = false
  if mode == 'r' then
    local own = redis.call('HGET', state, 'r:' .. token)
    if own and parseExpiring(own) > nowMs then
      redis.call('HDEL', state, 'r:' .. token, 'g:' .. token, 'l:' .. token)
      released = true
    end
  else
    local h = readHolders(state, nowMs, false)
    if h.writer == token then
      if h.only then
        -- The hash holds nothing but this hold (no line to grant it to, nothing
        -- to tidy): it goes whole, in one command.
        redis.call('DEL', state)
        notify(channel, releaseId)
        return 1
      end
      redis.call('HDEL', state, 'w', 'wf', 'wx', 'wl', 'g:' .. token)
      released = true
    elseif h.writer or h.readers > 0 then
      return -1
    else
      return 0
    end
  end

  if not released then
    local h = readHolders(state, nowMs, false)
    if h.writer or h.readers > 0 then return -1 end
    return 0
  end

  local left = tidy(state, nowMs)
  if left ~= nil and grantLine(state, fenceKey, left, nowMs, nowUs, retention, channel) > 0 then return 1 end
  -- Wake waiters when someone else may now acquire: not when a reader leaves
  -- others still reading.
  if mode == 'w' or left == nil or left.readers == 0 then
    notify(channel, releaseId)
  end
  return 1
end
