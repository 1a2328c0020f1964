--- @include "wake"
-- Tells an election's observers (leader$) what changed, where the wake-ups
-- of notify go (see wake.lua; waiters ignore these messages):
--   'term:<fence>:<rev>:<leftMs>:<value>'  a term began (rev 0) or its leader
--                                          proclaimed a value (rev counts them)
--   'end:<fence>'                          the term ended (resigned, removed)
local function announce(channel, message)
  wake(channel, message)
end
