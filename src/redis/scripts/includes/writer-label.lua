-- The writer's label field value (wl, see readHolders): when its hold began,
-- and who it is.
local function writerLabel(sinceMs, label)
  return string.format('%.0f', sinceMs) .. ':' .. label
end
