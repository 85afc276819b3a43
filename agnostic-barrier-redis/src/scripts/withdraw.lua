-- Withdraws arrival ARGV[2] if its generation is still being filled (a dropped wait): the
-- generation then needs one more arrival. Decided here, atomically, against the completion:
-- an arrival is either withdrawn or released with its generation, never both. A leader whose
-- wait is dropped before its sealed generation was released (its action never ran) is lost:
-- that breaks the generation (PartyLost, naming ARGV[3]); once released, a drop does nothing. Withdrawing an id that never arrived does nothing; nor does one whose lease
-- has lapsed (it is lost: found here first).
-- Returns 1 if withdrawn, 0 otherwise.
local id = ARGV[2]
if not load() then return 0 end
begin()
local record = redis.call('GET', idkey(id))
if not record or st.broken then return 0 end
local g = parse(record)
if g == num('fill') then
  redis.call('ZREM', L, id)
  redis.call('DEL', idkey(id))
  local q = {}
  for x in string.gmatch(st.q or '', '%S+') do
    if x ~= id then q[#q + 1] = x end
  end
  put('n', num('n') - 1, 'q', table.concat(q, ' '))
  return 1
end
-- Sealed, not yet released, and this is its leader: the action will never run.
local f = redis.call('HMGET', genkey(g), '!', 'leader')
if f[1] == 's' and f[2] == id then
  brk('PartyLost', ARGV[3])
end
return 0
