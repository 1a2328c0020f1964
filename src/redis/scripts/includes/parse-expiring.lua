-- A field value that starts with the server-ms expiry of what it records
-- ('<expiry>' or '<expiry>:<rest>'): the expiry as a number and the rest
-- (nil when absent), or nil when the value does not start with one.
local function parseExpiring(value)
  local expiry, rest = string.match(value, '^(%d+):?(.*)$')
  if expiry == nil then return nil end
  if rest == '' then rest = nil end
  return tonumber(expiry), rest
end
