-- Tells an election's observers (leader$) what changed, on the state's
-- keyspace channel beside the wake-ups of notify (waiters ignore it):
--   'term:<fence>:<rev>:<leftMs>:<value>'  a term began (rev 0) or its leader
--                                          proclaimed a value (rev counts them)
--   'end:<fence>'                          the term ended (resigned, removed)
local function announce(channel, message)
  redis.call('PUBLISH', channel, message)
end
