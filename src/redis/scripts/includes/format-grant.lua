-- A semaphore grant's field value (see readPermits):
-- '<expiry>:<fence>:<permits>:<since>:<label>'; `rest` is '<since>:<label>'.
local function formatGrant(expiryMs, fenceText, permits, rest)
  return string.format('%.0f', expiryMs) .. ':' .. fenceText .. ':' .. permits .. ':' .. rest
end
