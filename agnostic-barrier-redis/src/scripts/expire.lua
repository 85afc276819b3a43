-- A wait's deadline passed: ARGV = ttl, id, party, epoch. Settled here: if the id's generation
-- was already released or broken, that outcome is returned; otherwise the barrier breaks
-- (TimedOut, naming the party) and {epoch, 't'} is returned.
local id, party = ARGV[2], ARGV[3]
if not load() or epoch() ~= ARGV[4] then return { epoch(), 'x' } end
begin()
local reply = status(id)
if reply[1] == 'o' or reply[1] == 'b' then
  return with_epoch(reply)
end
if st.broken then
  return with_epoch(broken_status())
end
brk('TimedOut', party)
return with_epoch({ 't' })
