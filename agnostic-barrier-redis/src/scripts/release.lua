-- The leader's action returned: release its generation. ARGV = ttl, id, epoch.
-- Returns {epoch, status of id}: 'o' once released, 'b' if it broke meanwhile.
local id = ARGV[2]
if not load() or epoch() ~= ARGV[3] then return { epoch(), 'x' } end
begin()
local g = redis.call('GET', idkey(id))
if g then
  local f = redis.call('HMGET', genkey(g), '!', 'leader', 'ids')
  if f[1] == 's' and f[2] == id and num('gen') == tonumber(g) then
    release(tonumber(g), f[3])
  end
end
return with_epoch(status(id))
