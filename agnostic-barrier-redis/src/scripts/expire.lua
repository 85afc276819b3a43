-- A wait's deadline passed: ARGV = ttl, id, party, epoch. Settled here: if the id's generation
-- was already released or broken, that outcome is returned; otherwise the barrier breaks
-- (TimedOut, naming the party) and {epoch, 't'} is returned. An id not yet arrived (its
-- arrival still on the way) breaks it too.
local id, party = ARGV[2], ARGV[3]
if redis.call('EXISTS', S) == 0 or epoch() ~= ARGV[4] then return { epoch(), 'x' } end
touch_all()
reap(now_ms())
local st = status(id)
if st[1] == 'o' or st[1] == 'b' then
  table.insert(st, 1, epoch())
  return st
end
if redis.call('HEXISTS', S, 'broken') == 1 then
  local f = redis.call('HMGET', S, 'broken', 'by', 'arrived')
  return { epoch(), 'b', f[1], f[2], f[3] }
end
brk('TimedOut', party)
return { epoch(), 't' }
