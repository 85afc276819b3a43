-- Shared by every script (prepended to each one): the barrier's keys, Redis's clock, key TTLs,
-- lease expiry, breaking and releasing. Every decision is made inside one script, so it is
-- atomic.
--
-- KEYS[1] is the state hash, `agnostic-barrier:{<tag>}:state`; the other keys share its prefix
-- (and so its cluster slot):
--   state     hash: parties, gen (oldest unreleased generation: generation()), fill (the
--             generation being filled), n (arrivals in fill), seq (arrival counter), epoch
--             (random, new each time the record is created), and while broken: broken
--             (reason), by, arrived, last (the newest generation it broke)
--   arrivals  hash: arrival id -> "<gen> <seq> <party>", every arrival not yet released
--   leases    zset: arrival id -> lease expiry (ms, Redis TIME); a sealed generation keeps only
--             its leader's
--   id:<id>   string: the generation an arrival id arrived in (idempotent retries, status)
--   gen:<g>   hash: generation g once sealed: '!' = s(ealed) | o(released) | b(roken),
--             leader, auto (release without an action), ids (in index order), <id> -> index,
--             and once broken: reason, by, arrived
--   events    pub/sub channel: "r <g> <id0> .. <idN-1>" (released), "b" (broken or reset)
-- ARGV[1] is the key TTL in ms (at least max(10 x lease, 60 s)).

local S = KEYS[1]
local P = string.sub(S, 1, -6)
local A = P .. 'arrivals'
local L = P .. 'leases'
local CH = P .. 'events'
local TTL = tonumber(ARGV[1])

local function idkey(id) return P .. 'id:' .. id end
local function genkey(g) return P .. 'gen:' .. g end

local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

-- Keeps a key alive at least TTL ms from now (never shortens a longer TTL of another handle).
local function touch(key)
  local ttl = redis.call('PTTL', key)
  if ttl == -1 or (ttl >= 0 and ttl < TTL) then
    redis.call('PEXPIRE', key, TTL)
  end
end

local function touch_all()
  touch(S)
  touch(A)
  touch(L)
end

local function num(field)
  return tonumber(redis.call('HGET', S, field))
end

local function parse(record)
  local g, seq, party = string.match(record, '^(%d+) (%d+) (.*)$')
  return tonumber(g), tonumber(seq), party
end

-- Names as one string: each as "<byte length>:<name>" (names may hold any character).
local function encode(names)
  local out = {}
  for i, name in ipairs(names) do
    out[i] = #name .. ':' .. name
  end
  return table.concat(out)
end

-- Every arrival not yet released, in arrival order: { {id, gen, seq, party}, .. }.
local function arrivals()
  local flat = redis.call('HGETALL', A)
  local list = {}
  for i = 1, #flat, 2 do
    local g, seq, party = parse(flat[i + 1])
    list[#list + 1] = { flat[i], g, seq, party }
  end
  table.sort(list, function(a, b) return a[3] < b[3] end)
  return list
end

local function names(list)
  local out = {}
  for i, a in ipairs(list) do out[i] = a[4] end
  return out
end

-- Breaks the barrier: every generation not yet released is broken, its arrivals dropped.
local function brk(reason, by)
  if redis.call('HEXISTS', S, 'broken') == 1 then return end
  local arrived = encode(names(arrivals()))
  local gen, fill, n = num('gen'), num('fill'), num('n')
  for g = gen, fill do
    if g < fill or n > 0 then
      local key = genkey(g)
      redis.call('HSET', key, '!', 'b', 'reason', reason, 'by', by, 'arrived', arrived)
      redis.call('PEXPIRE', key, TTL)
    end
  end
  -- The newest generation it broke, for reset() to move one past it.
  local last = gen - 1
  if n > 0 then last = fill elseif fill > gen then last = fill - 1 end
  redis.call('HSET', S, 'broken', reason, 'by', by, 'arrived', arrived, 'n', 0, 'last', last)
  redis.call('DEL', A, L)
  redis.call('PUBLISH', CH, 'b')
end

-- A lapsed lease breaks the barrier, naming the lost party.
local function reap(now)
  local lost = redis.call('ZRANGEBYSCORE', L, '-inf', now, 'LIMIT', 0, 1)
  if #lost > 0 then
    local record = redis.call('HGET', A, lost[1])
    local party = ''
    if record then
      local _, _, name = parse(record)
      party = name
    end
    brk('PartyLost', party)
  end
end

-- Releases sealed generation g (the oldest unreleased one), then any sealed generation right
-- after it whose leader has no action.
local function release(g)
  while true do
    local key = genkey(g)
    local ids = redis.call('HGET', key, 'ids')
    redis.call('HSET', key, '!', 'o')
    redis.call('PEXPIRE', key, TTL)
    for id in string.gmatch(ids, '%S+') do
      redis.call('HDEL', A, id)
      redis.call('ZREM', L, id)
    end
    redis.call('HSET', S, 'gen', g + 1)
    redis.call('PUBLISH', CH, 'r ' .. g .. ' ' .. ids)
    local next = genkey(g + 1)
    if redis.call('HGET', next, '!') ~= 's' or redis.call('HGET', next, 'auto') ~= '1' then
      return
    end
    g = g + 1
  end
end

-- What became of arrival `id`: {'w', g} waiting in generation g, {'s', g, leader} sealed
-- (waiting for the release; leader: '1' for the leader), {'l', g} its turn to run the action as
-- leader of g, {'o', g, index, leader}, {'b', reason, by, arrived}, {'x'} unknown (the state
-- was lost, or the id withdrawn).
local function status(id)
  local g = redis.call('GET', idkey(id))
  if not g then return { 'x' } end
  local key = genkey(g)
  local st = redis.call('HGET', key, '!')
  if st == 'o' then
    local index = redis.call('HGET', key, id)
    if not index then return { 'x' } end
    local leader = '0'
    if redis.call('HGET', key, 'leader') == id then leader = '1' end
    return { 'o', g, index, leader }
  elseif st == 'b' then
    local f = redis.call('HMGET', key, 'reason', 'by', 'arrived')
    return { 'b', f[1], f[2], f[3] }
  elseif st == 's' then
    if redis.call('HGET', key, 'leader') ~= id then return { 's', g, '0' } end
    if num('gen') == tonumber(g) then return { 'l', g } end
    return { 's', g, '1' }
  end
  if redis.call('HEXISTS', A, id) == 1 then return { 'w', g } end
  if redis.call('HEXISTS', S, 'broken') == 1 then
    local f = redis.call('HMGET', S, 'broken', 'by', 'arrived')
    return { 'b', f[1], f[2], f[3] }
  end
  return { 'x' }
end

-- The current epoch, or '' when there is no record (lost in a restart, or never made).
local function epoch()
  return redis.call('HGET', S, 'epoch') or ''
end
