-- The leader's action returned: release its generation. ARGV = ttl, id, epoch.
-- Returns {epoch, status of id}: 'o' once released, 'b' if it broke meanwhile.
local id = ARGV[2]
if redis.call('EXISTS', S) == 0 or epoch() ~= ARGV[3] then return { epoch(), 'x' } end
touch_all()
reap(now_ms())
local g = redis.call('GET', idkey(id))
if g then
  local key = genkey(g)
  if redis.call('HGET', key, '!') == 's' and redis.call('HGET', key, 'leader') == id
    and num('gen') == tonumber(g) then
    release(tonumber(g))
  end
end
local reply = status(id)
table.insert(reply, 1, epoch())
return reply
