-- Shared by every script (prepended to each one): the barrier's keys, Redis's clock, key TTLs,
-- lease expiry, breaking and releasing. Every decision is made inside one script, so it is
-- atomic. The functions are made in `lib()`, only when a script asks for them (Redis runs this
-- whole text at every call, and making two dozen closures costs an arrival more than its own
-- logic): an arrival that needs none reads the clock and keeps the keys alive itself.
--
-- KEYS[1] is the state hash, `agnostic-barrier:{<tag>}:state`; the other keys share its prefix
-- (and so its cluster slot):
--   state     hash:
--             parties, gen (oldest unreleased generation: generation()), fill (the generation
--             being filled), n (arrivals in fill), lx (the earliest lease expiry among them,
--             ms, Redis TIME), epoch (random, new each time the record is created), exp (when
--             the keys expire), swept (when stale records were last swept), and while broken:
--             broken (reason), by, arrived, last (the newest generation it broke);
--             q:<k>, k = 1..n: the k-th arrival of fill, "<id> <slot> <s> <us> <lease> <party>":
--             its lease runs `lease` ms from Redis TIME <s> <us> (kept as TIME gave them: an
--             arrival formats no numbers, which costs Lua more than the rest of its work);
--             <slot>: an arrival's record, "<id> <g> <k> <stamp>": its generation, its
--             position (index k - 1 once g completes) and when it was last seen (TIME, s).
--             A slot is a handle's field for one wait at a time (the arrival id when none is
--             given): the handle reuses it for its next wait once it is done with the last one,
--             so the records do not pile up; stale ones (a killed handle's) are swept.
--   gen:<epoch>:<g>  hash, only for a generation that was sealed or broken (one released by its
--             completing arrival needs none): '!' = s(ealed) | o(released) | b(roken), leader
--             (its id), lease (its expiry), lname (its party), auto (release without an
--             action), ids (in index order), names (encoded, see encode()), and once broken:
--             reason, by, arrived
--   events    pub/sub channel: "r <g> <id0> .. <idN-1>" (released), "b" (broken or reset)
-- ARGV[1] is the key TTL in ms, max(10 x lease, 60 s). Every key expires at `exp`, which each
-- script moves to now + 2 x TTL whenever fewer than TTL ms are left: so every key always has at
-- least TTL ms to live after a script touched the barrier, and an idle barrier leaves nothing.

local S = KEYS[1]
local TTL = tonumber(ARGV[1])

-- The state hash, read once per script into `st` and written through `put`; Redis's clock:
-- NOW (ms) and T (TIME's own reply); the keys' expiry.
local st = {}
local NOW = 0
local T = nil
local EXP = 0

local L = nil
local function lib()
  if L then return L end
  L = {}

  local function num(field) return tonumber(st[field]) end
  L.num = num

  -- The keys' prefix, and the channel.
  local function prefix() return string.sub(S, 1, -6) end
  local function channel() return prefix() .. 'events' end
  L.channel = channel

  -- Under the record's epoch, so a record re-created after a loss never meets stale ones.
  local function genkey(g) return prefix() .. 'gen:' .. st.epoch .. ':' .. g end
  L.genkey = genkey

  local function put(...)
    local args = { ... }
    for i = 1, #args, 2 do st[args[i]] = args[i + 1] end
    redis.call('HSET', S, ...)
  end
  L.put = put

  -- Reads Redis's clock.
  local function clock()
    T = redis.call('TIME')
    NOW = tonumber(T[1]) * 1000 + math.floor(tonumber(T[2]) / 1000)
  end

  -- Keeps the keys alive (never shortening what a handle with a longer lease set); returns
  -- whether `exp` moved, for the caller to write.
  local function touch()
    EXP = num('exp') or 0
    if NOW + TTL > EXP then
      EXP = NOW + 2 * TTL
      st.exp = EXP
      redis.call('PEXPIREAT', S, EXP)
      return true
    end
    return false
  end

  -- The current epoch, or '' when there is no record (lost in a restart, or never made).
  local function epoch()
    return st.epoch or ''
  end
  L.epoch = epoch

  -- Prepends the epoch to a reply.
  function L.with_epoch(reply)
    table.insert(reply, 1, epoch())
    return reply
  end

  -- The state as the arrival read it (its HMGET's first eight values).
  function L.from(v)
    st.parties, st.fill, st.n, st.lx, st.exp, st.epoch, st.gen, st.broken =
      v[1], v[2], v[3], v[4] or nil, v[5], v[6], v[7], v[8] or nil
  end

  -- Reads the state and the fields `extra` (returned in order); false if there is no record.
  local BASE = { 'parties', 'gen', 'fill', 'n', 'lx', 'epoch', 'exp', 'broken' }
  function L.load(...)
    local fields = { unpack(BASE) }
    local extra = { ... }
    for i = 1, #extra do fields[#BASE + i] = extra[i] end
    local values = redis.call('HMGET', S, unpack(fields))
    for i = 1, #BASE do st[BASE[i]] = values[i] or nil end
    clock()
    return st.parties ~= nil, unpack(values, #BASE + 1, #fields)
  end

  -- The fields only the rarer paths need.
  function L.more()
    local v = redis.call('HMGET', S, 'by', 'arrived', 'last')
    st.by, st.arrived, st.last = v[1] or nil, v[2] or nil, v[3] or nil
  end

  -- Creates the record at generation 0.
  function L.create(parties, epoch_)
    put('parties', parties, 'gen', 0, 'fill', 0, 'n', 0, 'epoch', epoch_, 'swept', T[1])
  end

  local function expire(key) redis.call('PEXPIREAT', key, EXP) end
  L.expire = expire

  -- An arrival's record: id, generation, position, stamp (nil if there is none).
  local function record(value)
    if not value then return nil end
    local id, g, k, stamp = string.match(value, '^(%S+) (%d+) (%d+) (%d+)$')
    return id, tonumber(g), tonumber(k), tonumber(stamp)
  end
  L.record = record

  -- An entry q:<k>: id, slot, lease expiry (ms), party.
  local function entry(value)
    local id, slot, s, us, lease, party =
      string.match(value, '^(%S+) (%S+) (%d+) (%d+) (%d+) (.*)$')
    local exp = tonumber(s) * 1000 + math.floor(tonumber(us) / 1000) + tonumber(lease)
    return id, slot, exp, party
  end
  L.entry = entry

  -- The entry of arrival `id` in `slot` whose lease runs `lease` ms from now.
  function L.new_entry(id, slot, lease, party)
    return id .. ' ' .. slot .. ' ' .. T[1] .. ' ' .. T[2] .. ' ' .. lease .. ' ' .. party
  end

  -- The filling generation's entries q:1..q:n, as read (strings; false if missing).
  local function entries()
    local n = num('n')
    if n == 0 then return {} end
    local fields = {}
    for k = 1, n do fields[k] = 'q:' .. k end
    return redis.call('HMGET', S, unpack(fields))
  end
  L.entries = entries

  -- Names as one string: each as "<byte length>:<name>" (names may hold any character).
  local function encode(names)
    local out = {}
    for i, name in ipairs(names) do
      out[i] = #name .. ':' .. name
    end
    return table.concat(out)
  end
  L.encode = encode

  -- The filling generation's party names, in arrival order.
  local function names()
    local out = {}
    for _, value in ipairs(entries()) do
      if value then
        local _, _, _, party = entry(value)
        out[#out + 1] = party
      end
    end
    return out
  end
  L.names = names

  -- The names of every arrival not yet released, in arrival order, encoded: the sealed
  -- generations' and then the filling one's.
  local function waiting()
    local out = {}
    for g = num('gen'), num('fill') - 1 do
      local f = redis.call('HMGET', genkey(g), '!', 'names')
      if f[1] == 's' then out[#out + 1] = f[2] end
    end
    out[#out + 1] = encode(names())
    return table.concat(out)
  end
  L.waiting = waiting

  -- Breaks the barrier: every generation not yet released is broken, its arrivals dropped.
  local function brk(reason, by)
    if st.broken then return end
    local arrived = waiting()
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
    put('broken', reason, 'by', by, 'arrived', arrived, 'n', 0, 'last', last)
    redis.call('PUBLISH', channel(), 'b')
  end
  L.brk = brk

  -- The party of the lapsed lease that lapsed first, or nil: the filling generation's
  -- arrivals (looked at only once their earliest expiry `lx` has passed) and the sealed
  -- generations' leaders.
  local function lapsed()
    local first, name = nil, nil
    if num('n') > 0 and (num('lx') or 0) <= NOW then
      for _, value in ipairs(entries()) do
        if value then
          local _, _, exp, party = entry(value)
          if exp <= NOW and (not first or exp < first) then first, name = exp, party end
        end
      end
    end
    for g = num('gen'), num('fill') - 1 do
      local f = redis.call('HMGET', genkey(g), '!', 'lease', 'lname')
      local exp = tonumber(f[2])
      if f[1] == 's' and exp and exp <= NOW and (not first or exp < first) then
        first, name = exp, f[3]
      end
    end
    return name
  end

  -- A lapsed lease breaks the barrier, naming the lost party.
  local function reap()
    local name = lapsed()
    if name then brk('PartyLost', name) end
  end
  L.reap = reap

  -- The start of every script that acts on an existing record, but the arrival: keys kept
  -- alive, lapsed leases found.
  function L.begin()
    if touch() then put('exp', EXP) end
    reap()
  end

  -- Releases generation g (the oldest unreleased one, sealed), whose ids in index order are
  -- `ids`; then any sealed generation right after it whose leader has no action.
  function L.release(g, ids)
    while true do
      local key = genkey(g)
      redis.call('HSET', key, '!', 'o')
      expire(key)
      put('gen', g + 1)
      redis.call('PUBLISH', channel(), 'r ' .. g .. ' ' .. ids)
      if num('fill') <= g + 1 then return end
      local f = redis.call('HMGET', genkey(g + 1), '!', 'auto', 'ids')
      if f[1] ~= 's' or f[2] ~= '1' then return end
      g, ids = g + 1, f[3]
    end
  end

  local function broken_status()
    if not st.arrived then L.more() end
    return { 'b', st.broken, st.by or '', st.arrived or '' }
  end
  L.broken_status = broken_status

  -- What became of arrival `id` whose record (in `slot`) reads `value` (read here if nil):
  -- {'w', g} waiting in generation g, {'s', g, leader} sealed (waiting for the release;
  -- leader: '1' for the leader), {'l', g} its turn to run the action as leader of g,
  -- {'o', g, index, leader}, {'b', reason, by, arrived}, {'x'} unknown (the state was lost,
  -- or the id withdrawn).
  function L.status(slot, id, value)
    if value == nil then value = redis.call('HGET', S, slot) end
    local rid, g, k = record(value or nil)
    if rid ~= id then return { 'x' } end
    if g == num('fill') and not st.broken then return { 'w', tostring(g) } end
    local f = redis.call('HMGET', genkey(g), '!', 'leader', 'reason', 'by', 'arrived')
    if f[1] == 'b' then return { 'b', f[3], f[4], f[5] } end
    if f[1] == 's' then
      if f[2] ~= id then return { 's', tostring(g), '0' } end
      if num('gen') == g then return { 'l', tostring(g) } end
      return { 's', tostring(g), '1' }
    end
    if g < num('gen') then
      -- Released (by its completing arrival, or after its action): the leader completed it.
      local leader = '0'
      if k == num('parties') then leader = '1' end
      return { 'o', tostring(g), tostring(k - 1), leader }
    end
    if st.broken then return broken_status() end
    return { 'x' }
  end

  return L
end
