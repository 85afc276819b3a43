-- Arrives: ARGV = ttl, parties, id, party, lease ms, has action (0/1), epoch for a new record
-- ('' for the id), slot (optional: the id). Returns {epoch, status..} (see status() in
-- common.lua), or {'', 'm', parties found}.
-- Idempotent per id: a retried arrival finds its record and returns what became of the first.
-- An arrival that does not complete its generation makes three calls (read, TIME, write),
-- builds two short strings and formats one number (Lua's number formatting and string building
-- cost it more than its calls); the one that completes it also reads the others' entries and
-- publishes the release.
local id, party, slot = ARGV[3], ARGV[4], ARGV[8] or ARGV[3]

local v = redis.call('HMGET', S, 'parties', 'fill', 'n', 'lx', 'exp', 'epoch', 'gen', 'broken',
  slot)
T = redis.call('TIME')
NOW = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)
local parties = tonumber(ARGV[2])
if not v[1] then
  local epoch_ = ARGV[7]
  if epoch_ == '' then epoch_ = id end
  lib().create(parties, epoch_)
  v = { st.parties, '0', '0', false, false, epoch_, '0', false }
elseif tonumber(v[1]) ~= parties then
  return { '', 'm', v[1] }
else
  -- The slot's record is this id's: a retry.
  local mine = v[9]
  if mine and string.byte(mine, #id + 1) == 32 and string.find(mine, id, 1, true) == 1 then
    local H = lib()
    H.from(v)
    return H.with_epoch(H.status(slot, id, mine))
  end
end

-- Keeps the keys alive (never shortening what a handle with a longer lease set).
local moved = false
EXP = tonumber(v[5]) or 0
if NOW + TTL > EXP then
  EXP = NOW + 2 * TTL
  redis.call('PEXPIREAT', S, EXP)
  moved = true
end

local fill = v[2]
local n = tonumber(v[3]) + 1
-- An arrival that would complete the generation first looks for lapsed leases: a lost party
-- breaks the generation instead. (Other arrivals leave that to the renewals, every lease / 3.)
if n == parties and ((n > 1 and (tonumber(v[4]) or 0) <= NOW) or v[7] ~= fill) then
  local H = lib()
  H.from(v)
  H.reap()
  v[8] = st.broken or false
end
if v[8] then
  local H = lib()
  if not st.broken then H.from(v) end
  if moved then H.put('exp', EXP) end
  return H.with_epoch(H.broken_status())
end

local k = tostring(n)
local record = id .. ' ' .. fill .. ' ' .. k .. ' ' .. T[1]

if n < parties then
  local entry = id .. ' ' .. slot .. ' ' .. T[1] .. ' ' .. T[2] .. ' ' .. ARGV[5] .. ' ' .. party
  local exp = NOW + tonumber(ARGV[5])
  local lx = tonumber(v[4])
  if n == 1 or not lx or exp < lx then
    if moved then
      redis.call('HSET', S, slot, record, 'n', k, 'q:' .. k, entry, 'lx', exp, 'exp', EXP)
    else
      redis.call('HSET', S, slot, record, 'n', k, 'q:' .. k, entry, 'lx', exp)
    end
  elseif moved then
    redis.call('HSET', S, slot, record, 'n', k, 'q:' .. k, entry, 'exp', EXP)
  else
    redis.call('HSET', S, slot, record, 'n', k, 'q:' .. k, entry)
  end
  return { v[6], 'w', fill }
end

-- This arrival completes generation g: released now, or sealed until the leader's action
-- returns (or an earlier generation's action has). The ids, in arrival order, from the entries.
local ids = {}
if n > 1 then
  local fields = {}
  for j = 1, n - 1 do fields[j] = 'q:' .. j end
  for _, value in ipairs(redis.call('HMGET', S, unpack(fields))) do
    if value then ids[#ids + 1] = string.match(value, '^%S+') end
  end
end
ids[#ids + 1] = id
ids = table.concat(ids, ' ')
local g = tonumber(fill)
local has_action = ARGV[6] == '1'
if v[7] == fill and not has_action then
  if moved then
    redis.call('HSET', S, slot, record, 'n', 0, 'fill', g + 1, 'gen', g + 1, 'exp', EXP)
  else
    redis.call('HSET', S, slot, record, 'n', 0, 'fill', g + 1, 'gen', g + 1)
  end
  redis.call('PUBLISH', string.sub(S, 1, -6) .. 'events', 'r ' .. fill .. ' ' .. ids)
  return { v[6], 'o', fill, v[3], '1' }
end
local lb = lib()
lb.from(v)
if moved then lb.put('exp', EXP) end
local names = lb.names()
names[#names + 1] = party
local auto = '0'
if not has_action then auto = '1' end
local gk = lb.genkey(g)
-- Only the leader's loss can still break a sealed generation: its lease moves here.
redis.call('HSET', gk, '!', 's', 'leader', id, 'lease', NOW + tonumber(ARGV[5]), 'lname', party,
  'auto', auto, 'ids', ids, 'names', lb.encode(names))
lb.expire(gk)
redis.call('HSET', S, slot, record, 'n', 0, 'fill', g + 1)
if v[7] ~= fill then
  return lb.with_epoch({ 's', fill, '1' }) -- an earlier action still runs
end
return lb.with_epoch({ 'l', fill })
