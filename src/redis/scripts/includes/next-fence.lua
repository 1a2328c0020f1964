-- Issues the next fence of a name: one more than the last, and never behind
-- the server clock in microseconds, so fences keep increasing after the
-- counter expired or was lost in a restart (as long as the clock does not
-- step back further). The counter lives `keepMs`. Returns the fence as a
-- number and as the exact text stored.
local function nextFence(fenceKey, nowUs, keepMs)
  local stored = redis.call('GET', fenceKey)
  local fence = tonumber(stored or '0')
  if fence == nil then error('YADLSTATE fence counter at ' .. fenceKey .. ' was not written by yadl') end
  fence = fence + 1
  if fence < nowUs then fence = nowUs end
  local fenceText = string.format('%.0f', fence)
  redis.call('SET', fenceKey, fenceText, 'PX', keepMs)
  return fence, fenceText
end
