-- Shared by every script (prepended to each one): the barrier's keys, Redis's clock, key TTLs,
-- lease expiry, breaking and releasing. Every decision is made inside one script, so it is
-- atomic.
--
-- KEYS[1] is the state hash, `agnostic-barrier:{<tag>}:state`; the other keys share its prefix
-- (and so its cluster slot):
--   state     hash: parties, gen (oldest unreleased generation: generation()), fill (the
--             generation being filled), n (arrivals in fill), q (their ids in arrival order,
--             space-separated), seq (arrival counter), epoch
--             (random, new each time the record is created), exp (when the keys expire), and
--             while broken: broken (reason), by, arrived, last (the newest generation it broke)
--   leases    zset: arrival id -> lease expiry (ms, Redis TIME); a sealed generation keeps only
--             its leader's
--   id:<id>   string: "<gen> <seq> <party>", the arrival with that id (idempotent retries,
--             status, names)
--   gen:<epoch>:<g>  hash: generation g once sealed: '!' = s(ealed) | o(released) | b(roken),
--             leader, auto (release without an action), ids (in index order), <id> -> index,
--             and once broken: reason, by, arrived (ids are 32 hex digits: never a field name)
--   events    pub/sub channel: "r <g> <id0> .. <idN-1>" (released), "b" (broken or reset)
-- ARGV[1] is the key TTL in ms, max(10 x lease, 60 s). Every key expires at `exp`, which each
-- script moves to now + 2 x TTL whenever fewer than TTL ms are left: so every key always has at
-- least TTL ms to live after a script touched the barrier, and an idle barrier leaves nothing.

local S = KEYS[1]
local P = string.sub(S, 1, -6)
local L = P .. 'leases'
local CH = P .. 'events'
local TTL = tonumber(ARGV[1])

local function idkey(id) return P .. 'id:' .. id end
-- Under the record's epoch, so a record re-created after a loss never meets stale ones.
local st = {}
local function genkey(g) return P .. 'gen:' .. st.epoch .. ':' .. g end

-- The state hash, read once per script into `st` and written through `put`.
local FIELDS = { 'parties', 'gen', 'fill', 'n', 'q', 'seq', 'epoch', 'exp', 'broken', 'by',
  'arrived', 'last' }
local NOW = 0
local EXP = 0

local function num(field) return tonumber(st[field]) end

local function put(...)
  local args = { ... }
  for i = 1, #args, 2 do st[args[i]] = args[i + 1] end
  redis.call('HSET', S, ...)
end

local function expire(key) redis.call('PEXPIREAT', key, EXP) end

-- Reads the state; false if there is no record.
local function load()
  local values = redis.call('HMGET', S, unpack(FIELDS))
  for i, field in ipairs(FIELDS) do
    if values[i] then st[field] = values[i] else st[field] = nil end
  end
  local t = redis.call('TIME')
  NOW = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  return st.parties ~= nil
end

-- Creates the record at generation 0.
local function create(parties, epoch)
  put('parties', parties, 'gen', 0, 'fill', 0, 'n', 0, 'q', '', 'seq', 0, 'epoch', epoch)
end

-- Keeps the keys alive (never shortening what a handle with a longer lease set).
local function touch()
  EXP = num('exp') or 0
  if NOW + TTL > EXP then
    EXP = NOW + 2 * TTL
    put('exp', EXP)
    expire(S)
    expire(L)
  end
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

-- Every arrival not yet released, in arrival order: { {id, gen, seq, party}, .. }: the sealed
-- generations' ids (their records) and then the filling one's (`q`).
local function arrivals()
  local ids = {}
  for g = num('gen'), num('fill') - 1 do
    local f = redis.call('HMGET', genkey(g), '!', 'ids')
    if f[1] == 's' then
      for id in string.gmatch(f[2], '%S+') do ids[#ids + 1] = id end
    end
  end
  for id in string.gmatch(st.q or '', '%S+') do ids[#ids + 1] = id end
  local list = {}
  if #ids == 0 then return list end
  local keys = {}
  for i, id in ipairs(ids) do keys[i] = idkey(id) end
  local records = redis.call('MGET', unpack(keys))
  for i, id in ipairs(ids) do
    if records[i] then
      local g, seq, party = parse(records[i])
      list[#list + 1] = { id, g, seq, party }
    end
  end
  return list
end

local function names(list)
  local out = {}
  for i, a in ipairs(list) do out[i] = a[4] end
  return out
end

-- Breaks the barrier: every generation not yet released is broken, its arrivals dropped.
local function brk(reason, by)
  if st.broken then return end
  local arrived = encode(names(arrivals()))
  local gen, fill, n = num('gen'), num('fill'), num('n')
  for g = gen, fill do
    if g < fill or n > 0 then
      local key = genkey(g)
      redis.call('HSET', key, '!', 'b', 'reason', reason, 'by', by, 'arrived', arrived)
      expire(key)
    end
  end
  -- The newest generation it broke, for reset() to move one past it.
  local last = gen - 1
  if n > 0 then last = fill elseif fill > gen then last = fill - 1 end
  put('broken', reason, 'by', by, 'arrived', arrived, 'n', 0, 'q', '', 'last', last)
  redis.call('DEL', L)
  redis.call('PUBLISH', CH, 'b')
end

-- A lapsed lease breaks the barrier, naming the lost party.
local function reap()
  local lost = redis.call('ZRANGEBYSCORE', L, '-inf', NOW, 'LIMIT', 0, 1)
  if #lost > 0 then
    local record = redis.call('GET', idkey(lost[1]))
    local party = ''
    if record then
      local _, _, name = parse(record)
      party = name
    end
    brk('PartyLost', party)
  end
end

-- The start of every script that acts on an existing record: keys kept alive, lapsed leases
-- found.
local function begin()
  touch()
  reap()
end

-- Releases generation g (the oldest unreleased one; its record written, sealed or released),
-- whose ids in index order are `ids`; then any sealed generation right after it whose leader
-- has no action.
local function release(g, ids)
  while true do
    local key = genkey(g)
    redis.call('HSET', key, '!', 'o')
    expire(key)
    local list = {}
    for id in string.gmatch(ids, '%S+') do list[#list + 1] = id end
    redis.call('ZREM', L, unpack(list))
    put('gen', g + 1)
    redis.call('PUBLISH', CH, 'r ' .. g .. ' ' .. ids)
    if num('fill') <= g + 1 then return end
    local f = redis.call('HMGET', genkey(g + 1), '!', 'auto', 'ids')
    if f[1] ~= 's' or f[2] ~= '1' then return end
    g, ids = g + 1, f[3]
  end
end

local function broken_status()
  return { 'b', st.broken, st.by or '', st.arrived or '' }
end

-- What became of arrival `id`: {'w', g} waiting in generation g, {'s', g, leader} sealed
-- (waiting for the release; leader: '1' for the leader), {'l', g} its turn to run the action as
-- leader of g, {'o', g, index, leader}, {'b', reason, by, arrived}, {'x'} unknown (the state
-- was lost, or the id withdrawn).
local function status(id)
  local record = redis.call('GET', idkey(id))
  if not record then return { 'x' } end
  local g = tostring(parse(record))
  local key = genkey(g)
  local f = redis.call('HMGET', key, '!', 'leader', id, 'reason', 'by', 'arrived')
  local st_, leader = f[1], f[2]
  if st_ == 'o' then
    if not f[3] then return { 'x' } end
    local is_leader = '0'
    if leader == id then is_leader = '1' end
    return { 'o', g, f[3], is_leader }
  elseif st_ == 'b' then
    return { 'b', f[4], f[5], f[6] }
  elseif st_ == 's' then
    if leader ~= id then return { 's', g, '0' } end
    if num('gen') == tonumber(g) then return { 'l', g } end
    return { 's', g, '1' }
  end
  if st.broken then return broken_status() end
  if tonumber(g) == num('fill') then return { 'w', g } end
  return { 'x' }
end

-- The current epoch, or '' when there is no record (lost in a restart, or never made).
local function epoch()
  return st.epoch or ''
end

-- Prepends the epoch to a reply.
local function with_epoch(reply)
  table.insert(reply, 1, epoch())
  return reply
end
