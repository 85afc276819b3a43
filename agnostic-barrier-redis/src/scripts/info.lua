-- Connects or reads the getters. ARGV = ttl, parties (0: just read), epoch for a new record.
-- Returns {epoch, parties, generation, broken reason or '', broken by, arrived, waiting}
-- (waiting: the names of the arrivals not yet released, in arrival order), or
-- {'', 'm', parties found} when connecting with another count. No record: {'', '0', '0', ..}.
local H = lib()
local num, put, epoch, with_epoch, genkey = H.num, H.put, H.epoch, H.with_epoch, H.genkey
local parties = tonumber(ARGV[2])
if not H.load() then
  if parties == 0 then return { '', '0', '0', '', '', '', '' } end
  H.create(parties, ARGV[3])
elseif parties ~= 0 and num('parties') ~= parties then
  return { '', 'm', st.parties }
end
H.begin()
H.more()
return { epoch(), st.parties, st.gen, st.broken or '', st.by or '', st.arrived or '',
  H.waiting() }
