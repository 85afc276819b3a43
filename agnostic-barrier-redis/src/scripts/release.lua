-- The leader's action returned: release its generation. ARGV = ttl, id, epoch, slot (optional:
-- the id). Returns {epoch, status of id}: 'o' once released, 'b' if it broke meanwhile.
local H = lib()
local num, put, epoch, with_epoch, genkey = H.num, H.put, H.epoch, H.with_epoch, H.genkey
local id = ARGV[2]
local slot = ARGV[4] or id
if not H.load() or epoch() ~= ARGV[3] then return { epoch(), 'x' } end
H.begin()
local rid, g = H.record(redis.call('HGET', S, slot) or nil)
if rid == id then
  local f = redis.call('HMGET', genkey(g), '!', 'leader', 'ids')
  if f[1] == 's' and f[2] == id and num('gen') == g then
    H.release(g, f[3])
  end
end
return with_epoch(H.status(slot, id))
