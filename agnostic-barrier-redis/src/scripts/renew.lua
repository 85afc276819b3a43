-- Renews the leases of this handle's arrivals and reports what became of each: the periodic
-- re-check that makes a lost pub/sub message a delay, never a hang.
-- ARGV = ttl, lease ms, id1, id2, ..  Returns {epoch, {status of id1}, {status of id2}, ..}.
if not load() then
  local reply = { '' }
  for i = 3, #ARGV do reply[#reply + 1] = { 'x' } end
  return reply
end
-- Lapsed leases first: a handle that was frozen past its lease is lost even if it renews now.
begin()
local lease = tonumber(ARGV[2])
local reply = { epoch() }
for i = 3, #ARGV do
  local id = ARGV[i]
  redis.call('ZADD', L, 'XX', NOW + lease, id)
  redis.call('PEXPIREAT', idkey(id), EXP)
  reply[#reply + 1] = status(id)
end
return reply
