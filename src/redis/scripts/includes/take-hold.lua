--- @include "next-fence"
--- @include "format-reader"
--- @include "set-label"
--- @include "writer-label"
--- @include "keep-alive"
-- Takes the hold of `token` on a lock nobody blocks it from (h: its
-- readHolders), exclusively ('w') or shared ('r'), for `hold` ms with a new
-- fence and its label; a writer's own mark goes. Returns the fence.
local function takeHold(state, fenceKey, h, token, mode, hold, retention, nowMs, nowUs, label)
  local fence, fenceText = nextFence(fenceKey, nowUs, hold + retention)
  if mode == 'r' then
    redis.call('HSET', state, 'r:' .. token, formatReader(nowMs + hold, fenceText))
    setLabel(state, token, mode, nowMs + hold, nowMs, label)
  elseif label == '' then
    redis.call('HSET', state, 'w', token, 'wf', fenceText, 'wx', nowMs + hold)
  else
    -- The label in the same command as the hold (see setLabel): one command less per acquire.
    redis.call('HSET', state, 'w', token, 'wf', fenceText, 'wx', nowMs + hold, 'wl', writerLabel(nowMs, label))
  end
  if mode == 'w' and not h.only then redis.call('HDEL', state, 'q:' .. token) end
  if h.only then
    redis.call('PEXPIRE', state, hold) -- a new hash: this hold is its only one
  else
    keepAlive(state, hold)
  end
  return fence
end
