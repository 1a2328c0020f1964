-- A reader's field value: '<expiry>:<fence>' (see readHolders).
local function formatReader(expiryMs, fenceText)
  return string.format('%.0f', expiryMs) .. ':' .. fenceText
end
