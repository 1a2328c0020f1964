--- @include "wake"
-- Wakes the lock's waiters (see wake.lua for where). The release id, when
-- given, lets the releasing process skip the wake-up it already acted on.
local function notify(channel, releaseId)
  wake(channel, releaseId == '' and 'release' or ('release:' .. releaseId))
end
