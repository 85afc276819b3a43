-- Withdraws arrival ARGV[2] (its record in slot ARGV[4], or the id) if its generation is still
-- being filled (a dropped wait): the generation then needs one more arrival. Decided here,
-- atomically, against the completion: an arrival is either withdrawn or released with its
-- generation, never both. A leader whose wait is dropped before its sealed generation was
-- released (its action never ran) is lost: that breaks the generation (PartyLost, naming
-- ARGV[3]); once released, a drop does nothing. Withdrawing an id that never arrived does
-- nothing; nor does one whose lease has lapsed (it is lost: found here first).
-- Returns 1 if withdrawn, 0 otherwise.
local H = lib()
local num, put, epoch, with_epoch, genkey = H.num, H.put, H.epoch, H.with_epoch, H.genkey
local id = ARGV[2]
local slot = ARGV[4] or id
if not H.load() then return 0 end
H.begin()
local rid, g, k = H.record(redis.call('HGET', S, slot) or nil)
if rid ~= id or st.broken then return 0 end
if g == num('fill') then
  -- The later arrivals move up one place: their entries and their records' positions.
  local n = num('n')
  local all = H.entries()
  local writes, moved = {}, {}
  local lx = nil
  local kept = 0
  for j = 1, n do
    local value = all[j]
    if j ~= k and value then
      local eid, eslot, exp = H.entry(value)
      kept = kept + 1
      if not lx or exp < lx then lx = exp end
      if j > k then
        writes[#writes + 1] = 'q:' .. kept
        writes[#writes + 1] = value
        moved[#moved + 1] = { eslot, eid, kept }
      end
    end
  end
  if #moved > 0 then
    local fields = {}
    for i, m in ipairs(moved) do fields[i] = m[1] end
    local records = redis.call('HMGET', S, unpack(fields))
    for i, m in ipairs(moved) do
      local mid, mg, _, stamp = H.record(records[i] or nil)
      if mid == m[2] then
        writes[#writes + 1] = m[1]
        writes[#writes + 1] = mid .. ' ' .. mg .. ' ' .. m[3] .. ' ' .. stamp
      end
    end
  end
  writes[#writes + 1] = 'n'
  writes[#writes + 1] = kept
  if lx then
    writes[#writes + 1] = 'lx'
    writes[#writes + 1] = lx
  end
  redis.call('HSET', S, unpack(writes))
  redis.call('HDEL', S, slot, 'q:' .. n)
  return 1
end
-- Sealed, not yet released, and this is its leader: the action will never run.
local f = redis.call('HMGET', genkey(g), '!', 'leader')
if f[1] == 's' and f[2] == id then
  H.brk('PartyLost', ARGV[3])
end
return 0
