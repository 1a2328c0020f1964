-- A ticket's field value in the fair line (see readHolders):
-- '<expiry>:<seq>:<mode>:<graceMs>:<label>'.
local function formatTicket(ticket)
  return string.format('%.0f', ticket.expiry) .. ':' .. ticket.seq .. ':' .. ticket.mode .. ':' .. ticket.grace .. ':' .. ticket.label
end
