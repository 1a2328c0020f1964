-- The hash lives as long as its longest hold: only ever extend it.
local function keepAlive(state, ms)
  if redis.call('PTTL', state) < ms then redis.call('PEXPIRE', state, ms) end
end
