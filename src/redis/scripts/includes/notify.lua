-- Wakes the lock's waiters: publishes on the state's keyspace channel, where
-- they listen for Redis' own 'expired' events too. The release id, when
-- given, lets the releasing process skip the wake-up it already acted on.
local function notify(channel, releaseId)
  redis.call('PUBLISH', channel, releaseId == '' and 'release' or ('release:' .. releaseId))
end
