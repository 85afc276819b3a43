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
touch()

local g = num('fill')
local seq = num('seq') + 1
local n = num('n') + 1
local key = idkey(id)
-- An arrival that would complete the generation first looks for lapsed leases: a lost party
-- breaks the generation instead. (Other arrivals leave that to the renewals, every lease / 3.)
if n == parties then reap() end
if st.broken then
  if redis.call('EXISTS', key) == 1 then return with_epoch(status(id)) end
  return with_epoch(broken_status())
end
-- SET NX: a retried arrival finds its id and returns what became of the first one.
if not redis.call('SET', key, g .. ' ' .. seq .. ' ' .. party, 'PXAT', EXP, 'NX') then
  return with_epoch(status(id))
end

local q = id
if st.q and st.q ~= '' then q = st.q .. ' ' .. id end
local now = n == parties and num('gen') == g and not has_action
if not now then
  -- A generation released by this very arrival never needs its lease.
  redis.call('ZADD', L, NOW + lease, id)
  -- The first arrival of a generation may have created the key anew.
  if n == 1 then expire(L) end
end
if n < parties then
  put('seq', seq, 'n', n, 'q', q)
  return with_epoch({ 'w', tostring(g) })
end

-- This arrival completes generation g: indices in arrival order; sealed until the leader's
-- action returns, or released now.
local auto = '0'
if not has_action then auto = '1' end
local fields = { '!', 's', 'leader', id, 'auto', auto, 'ids', q }
if now then fields[2] = 'o' end
local ids, count = {}, 0
for x in string.gmatch(q, '%S+') do
  fields[#fields + 1] = x
  fields[#fields + 1] = count
  count = count + 1
  ids[count] = x
end
local gk = genkey(g)
redis.call('HSET', gk, unpack(fields))
expire(gk)
if now then
  put('seq', seq, 'n', 0, 'q', '', 'fill', g + 1, 'gen', g + 1)
  ids[count] = nil
  if count > 1 then redis.call('ZREM', L, unpack(ids)) end
  redis.call('PUBLISH', CH, 'r ' .. g .. ' ' .. q)
  return with_epoch({ 'o', tostring(g), tostring(count - 1), '1' })
end
put('seq', seq, 'n', 0, 'q', '', 'fill', g + 1)
-- Only the leader's loss can still break a sealed generation.
if count > 1 then
  ids[count] = nil
  redis.call('ZREM', L, unpack(ids))
end
if num('gen') ~= g then
  return with_epoch({ 's', tostring(g), '1' }) -- an earlier action still runs
end
return with_epoch({ 'l', tostring(g) })
