--[[
  Takes the lock for an owner token, with a fencing token issued atomically.

  Input:
    KEYS[1] state: hash { w = owner token, wf = its fence, wx = its expiry (server ms) }
    KEYS[2] fence: the name's fencing counter (a string holding an integer)
    ARGV[1] owner token
    ARGV[2] hold, ms: the fixed ttl or the lease to renew
    ARGV[3] fence retention, ms: how long the counter outlives the hold

  Output:
    {1, fence}   acquired; the same reply again for the same token (ioredis
                 may resend a command whose reply was lost), so it is idempotent
    {0, waitMs}  held by another owner until waitMs from now
]]
--- @include "clock"
local state, fenceKey = KEYS[1], KEYS[2]
local token, hold, retention = ARGV[1], tonumber(ARGV[2]), tonumber(ARGV[3])

local holder = redis.call('HMGET', state, 'w', 'wf', 'wx')
if holder[1] then
  local expiry = tonumber(holder[3])
  if expiry == nil then
    return redis.error_reply('YADLSTATE lock state at ' .. state .. ' has no expiry; it was not written by yadl')
  end
  if expiry > nowMs then
    if holder[1] == token then return {1, tonumber(holder[2])} end
    return {0, expiry - nowMs}
  end
end

-- Fences: one more than the last, and never behind the server clock in
-- microseconds, so they keep increasing after the counter expired or was
-- lost in a restart (as long as the clock does not step back further).
local fence = (tonumber(redis.call('GET', fenceKey)) or 0) + 1
if fence < nowUs then fence = nowUs end
local fenceText = string.format('%.0f', fence)
redis.call('SET', fenceKey, fenceText, 'PX', hold + retention)

redis.call('HSET', state, 'w', token, 'wf', fenceText, 'wx', nowMs + hold)
redis.call('PEXPIRE', state, hold)
return {1, fence}
