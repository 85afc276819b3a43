-- The leader's action returned: release its generation. ARGV = ttl, id, epoch.
-- Returns {epoch, status of id}: 'o' once released, 'b' if it broke meanwhile.
local id = ARGV[2]
if not load() or epoch() ~= ARGV[3] then return { epoch(), 'x' } end
begin()
local record = redis.call('GET', idkey(id))
if record then
  local g = parse(record)
  local f = redis.call('HMGET', genkey(g), '!', 'leader', 'ids')
  if f[1] == 's' and f[2] == id and num('gen') == g then
    release(g, f[3])
  end
end
return with_epoch(status(id))
