-- Arrives: ARGV = ttl, parties, id, party, lease ms, has action (0/1), epoch for a new record.
-- Returns {epoch, status..} (see status() in common.lua), or {'', 'm', parties found}.
-- Idempotent per id: a retried arrival returns what became of the first one.
local parties, id, party = tonumber(ARGV[2]), ARGV[3], ARGV[4]
local lease, has_action = tonumber(ARGV[5]), ARGV[6] == '1'

if redis.call('EXISTS', S) == 0 then
  redis.call('HSET', S, 'parties', parties, 'gen', 0, 'fill', 0, 'n', 0, 'seq', 0,
    'epoch', ARGV[7])
elseif num('parties') ~= parties then
  return { '', 'm', tostring(num('parties')) }
end
touch_all()
local now = now_ms()
reap(now)

if redis.call('EXISTS', idkey(id)) == 1 then
  local reply = status(id)
  table.insert(reply, 1, epoch())
  return reply
end
if redis.call('HEXISTS', S, 'broken') == 1 then
  local f = redis.call('HMGET', S, 'broken', 'by', 'arrived')
  return { epoch(), 'b', f[1], f[2], f[3] }
end

local g = num('fill')
local seq = redis.call('HINCRBY', S, 'seq', 1)
redis.call('HSET', A, id, g .. ' ' .. seq .. ' ' .. party)
redis.call('ZADD', L, now + lease, id)
redis.call('SET', idkey(id), g, 'PX', TTL)
local n = redis.call('HINCRBY', S, 'n', 1)
if n < parties then
  return { epoch(), 'w' }
end

-- This arrival completes generation g: seal it, indices in arrival order.
local ids = {}
for _, a in ipairs(arrivals()) do
  if a[2] == g then ids[#ids + 1] = a[1] end
end
local key = genkey(g)
redis.call('DEL', key)
local auto = '0'
if not has_action then auto = '1' end
redis.call('HSET', key, '!', 's', 'leader', id, 'auto', auto, 'ids', table.concat(ids, ' '))
for i, x in ipairs(ids) do
  redis.call('HSET', key, x, i - 1)
  -- Only the leader's loss can still break a sealed generation.
  if x ~= id then redis.call('ZREM', L, x) end
end
redis.call('PEXPIRE', key, TTL)
redis.call('HSET', S, 'fill', g + 1, 'n', 0)
if num('gen') == g and not has_action then
  release(g)
end
local reply = status(id)
table.insert(reply, 1, epoch())
return reply
