-- Renews the leases of this handle's arrivals and reports what became of each: the periodic
-- re-check that makes a lost pub/sub message a delay, never a hang. Once per TTL it also
-- sweeps the records no handle has touched for a TTL (a killed handle's).
-- ARGV = ttl, lease ms, slot1, id1, slot2, id2, ..
-- Returns {epoch, {status of id1}, {status of id2}, ..}.
local H = lib()
local num, put, epoch, with_epoch, genkey = H.num, H.put, H.epoch, H.with_epoch, H.genkey
if not H.load() then
  local reply = { '' }
  for i = 4, #ARGV, 2 do reply[#reply + 1] = { 'x' } end
  return reply
end
-- Lapsed leases first: a handle that was frozen past its lease is lost even if it renews now.
H.begin()
local lease = ARGV[2]
local exp = NOW + tonumber(lease)
local slots = {}
for i = 3, #ARGV, 2 do slots[#slots + 1] = ARGV[i] end
local values = {}
if #slots > 0 then values = redis.call('HMGET', S, unpack(slots)) end
local writes = {}
local all = nil -- the filling generation's entries, read once if needed
local reply = { epoch() }
for i, slot in ipairs(slots) do
  local id = ARGV[2 + 2 * i]
  local rid, g, k = H.record(values[i] or nil)
  if rid == id then
    writes[#writes + 1] = slot
    writes[#writes + 1] = id .. ' ' .. g .. ' ' .. k .. ' ' .. T[1]
    if g == num('fill') and not st.broken then
      all = all or H.entries()
      local value = all[k]
      if value then
        local eid, eslot, _, party = H.entry(value)
        if eid == id then
          all[k] = H.new_entry(id, eslot, lease, party)
          writes[#writes + 1] = 'q:' .. k
          writes[#writes + 1] = all[k]
        end
      end
    elseif g >= num('gen') and g < num('fill') and not st.broken then
      local key = genkey(g)
      local f = redis.call('HMGET', key, '!', 'leader')
      if f[1] == 's' and f[2] == id then redis.call('HSET', key, 'lease', exp) end
    end
  end
  reply[#reply + 1] = H.status(slot, id, values[i])
end
if all then
  local lx = nil
  for _, value in ipairs(all) do
    if value then
      local _, _, e = H.entry(value)
      if not lx or e < lx then lx = e end
    end
  end
  if lx then
    writes[#writes + 1] = 'lx'
    writes[#writes + 1] = lx
  end
end
if #writes > 0 then redis.call('HSET', S, unpack(writes)) end

-- The sweep: records older than a TTL (no handle renewed or reused them: their handle is gone),
-- and entries past the filling generation's count.
local swept = tonumber(redis.call('HGET', S, 'swept')) or 0
if swept * 1000 + TTL <= NOW then
  local FIXED = { parties = 1, gen = 1, fill = 1, n = 1, lx = 1, epoch = 1, exp = 1,
    broken = 1, by = 1, arrived = 1, last = 1, swept = 1 }
  local fields = redis.call('HGETALL', S)
  local stale = {}
  local n = num('n')
  for i = 1, #fields, 2 do
    local field = fields[i]
    if not FIXED[field] then
      local k = tonumber(string.match(field, '^q:(%d+)$'))
      if k then
        if k > n then stale[#stale + 1] = field end
      else
        local _, _, _, stamp = H.record(fields[i + 1])
        if stamp and stamp * 1000 + TTL < NOW then stale[#stale + 1] = field end
      end
    end
  end
  if #stale > 0 then redis.call('HDEL', S, unpack(stale)) end
  redis.call('HSET', S, 'swept', T[1])
end
return reply
