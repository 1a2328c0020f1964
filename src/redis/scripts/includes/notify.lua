-- Wakes waiters with the event Redis itself would emit on the state's
-- keyspace channel. Used when keyspace notifications are not known to be on
-- (channel given) or when the change is one they do not report to us.
local function notify(channel, event)
  if channel ~= '' then
    redis.call('PUBLISH', channel, event)
  end
end
