-- Connects or reads the getters. ARGV = ttl, parties (0: just read), epoch for a new record.
-- Returns {epoch, parties, generation, broken reason or '', broken by, arrived, waiting}
-- (waiting: the names of the arrivals not yet released, in arrival order), or
-- {'', 'm', parties found} when connecting with another count. No record: {'', '0', '0', ..}.
local parties = tonumber(ARGV[2])
if redis.call('EXISTS', S) == 0 then
  if parties == 0 then return { '', '0', '0', '', '', '', '' } end
  redis.call('HSET', S, 'parties', parties, 'gen', 0, 'fill', 0, 'n', 0, 'seq', 0,
    'epoch', ARGV[3])
elseif parties ~= 0 and num('parties') ~= parties then
  return { '', 'm', tostring(num('parties')) }
end
touch_all()
reap(now_ms())
local f = redis.call('HMGET', S, 'broken', 'by', 'arrived')
return { epoch(), tostring(num('parties')), tostring(num('gen')), f[1] or '', f[2] or '',
  f[3] or '', encode(names(arrivals())) }
