-- The server's clock, read once per script (scripts replicate by effects):
-- milliseconds and microseconds since the epoch.
local function serverTime()
  local clock = redis.call('TIME')
  local seconds, micros = tonumber(clock[1]), tonumber(clock[2])
  return seconds * 1000 + math.floor(micros / 1000), seconds * 1000000 + micros
end
