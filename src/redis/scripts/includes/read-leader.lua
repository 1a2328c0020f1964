--[[
  The layout of an election's state hash, described here once:
    w  = the leader's owner token     wf = its fence (the term's number)
    wx = its expiry (server ms)       wv = its value
    wr = how many times the leader proclaimed a new value in this term
    rs = '<expiry>:<candidate id>'    the last candidate that resigned: it
                                      may not start the next term before
                                      the expiry unless another did first
  The hash lives as long as the leader's lease (or the resign record), so
  Redis publishes 'expired' when a leader's lease runs out.

  readLeader returns the live leader at nowMs as { token, fenceText, expiry,
  value, rev }, or nil; a hash yadl did not write is refused.
]]
local function readLeader(state, nowMs)
  local f = redis.call('HMGET', state, 'w', 'wf', 'wx', 'wv', 'wr')
  if not f[1] then return nil end
  local expiry = tonumber(f[3] or '')
  if expiry == nil or not f[2] then error('YADLSTATE election state at ' .. state .. ' was not written by yadl') end
  if expiry <= nowMs then return nil end
  return { token = f[1], fenceText = f[2], expiry = expiry, value = f[4] or '', rev = tonumber(f[5] or '0') }
end
