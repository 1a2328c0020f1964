-- Wakes waiters with the event Redis itself would emit on the state's
-- keyspace channel. A 'del' is reported by keyspace notifications when they
-- are on (reportsDel = '1'); an 'hdel' never is (yadl does not enable hash
-- events), so a change that frees the lock without deleting the hash is
-- always published.
local function notify(channel, reportsDel, event)
  if event == 'del' and reportsDel == '1' then return end
  redis.call('PUBLISH', channel, event)
end
