-- Arrives: ARGV = ttl, parties, id, party, lease ms, has action (0/1), epoch for a new record.
-- Returns {epoch, status..} (see status() in common.lua), or {'', 'm', parties found}.
-- Idempotent per id: a retried arrival returns what became of the first one.
local parties, id, party = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local lease, has_action = tonumber(ARGV[5]), ARGV[6] == '1'

if not load() then
  create(parties, ARGV[7])
elseif num('parties') ~= parties then
  return { '', 'm', st.parties }
end
begin()

-- SET NX: a retried arrival finds its id and returns what became of the first one.
local g = num('fill')
local key = idkey(id)
if st.broken then
  if redis.call('EXISTS', key) == 1 then return with_epoch(status(id)) end
  return with_epoch(broken_status())
end
if not redis.call('SET', key, g, 'PXAT', EXP, 'NX') then
  return with_epoch(status(id))
end

local seq = num('seq') + 1
local n = num('n') + 1
redis.call('HSET', A, id, g .. ' ' .. seq .. ' ' .. party)
redis.call('ZADD', L, NOW + lease, id)
if n == 1 then
  -- The first arrival of a generation may have created these keys anew.
  expire(A)
  expire(L)
end
local q = id
if st.q and st.q ~= '' then q = st.q .. ' ' .. id end
if n < parties then
  put('seq', seq, 'n', n, 'q', q)
  return with_epoch({ 'w', tostring(g) })
end

-- This arrival completes generation g: seal it, indices in arrival order.
put('seq', seq, 'n', 0, 'q', '', 'fill', g + 1)
local gk = genkey(g)
redis.call('DEL', gk)
local auto = '0'
if not has_action then auto = '1' end
local fields = { '!', 's', 'leader', id, 'auto', auto, 'ids', q }
local others = {}
local count = 0
for x in string.gmatch(q, '%S+') do
  fields[#fields + 1] = x
  fields[#fields + 1] = count
  count = count + 1
  -- Only the leader's loss can still break a sealed generation.
  if x ~= id then others[#others + 1] = x end
end
redis.call('HSET', gk, unpack(fields))
expire(gk)
if #others > 0 then redis.call('ZREM', L, unpack(others)) end
if num('gen') ~= g then
  return with_epoch({ 's', tostring(g), '1' }) -- an earlier action still runs
end
if has_action then
  return with_epoch({ 'l', tostring(g) })
end
release(g)
return with_epoch({ 'o', tostring(g), tostring(count - 1), '1' })
