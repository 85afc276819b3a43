-- A wait's deadline passed: ARGV = ttl, id, party, epoch, slot (optional: the id). Settled
-- here: if the id's generation was already released or broken, that outcome is returned;
-- otherwise the barrier breaks (TimedOut, naming the party) and {epoch, 't'} is returned.
local H = lib()
local num, put, epoch, with_epoch, genkey = H.num, H.put, H.epoch, H.with_epoch, H.genkey
local id, party = ARGV[2], ARGV[3]
local slot = ARGV[5] or id
if not H.load() or epoch() ~= ARGV[4] then return { epoch(), 'x' } end
H.begin()
local reply = H.status(slot, id)
if reply[1] == 'o' or reply[1] == 'b' then
  return with_epoch(reply)
end
if st.broken then
  return with_epoch(H.broken_status())
end
H.brk('TimedOut', party)
return with_epoch({ 't' })
