-- abort, reset and the break after a panicking action: ARGV = ttl, op, party, parties, epoch
-- for a new record (abort re-creates a lost record, so that the break holds).
--   abort:    breaks the barrier (Aborted, by party); a broken barrier stays as it is.
--   panicked: breaks it (ActionPanicked, by party, the leader).
--   reset:    breaks what is waiting (Reset, by party), then leaves the barrier intact and
--             empty, generation() one past the generation it broke.
local op, party = ARGV[2], ARGV[3]
if not load() then
  if op == 'reset' then return 0 end
  create(ARGV[4], ARGV[5])
end
begin()
if op == 'abort' then
  brk('Aborted', party)
elseif op == 'panicked' then
  brk('ActionPanicked', party)
elseif op == 'reset' then
  brk('Reset', party)
  -- One past the newest broken generation; an idle reset moves generation() by one.
  local next = math.max(num('last') + 1, num('gen') + 1)
  redis.call('HDEL', S, 'broken', 'by', 'arrived', 'last')
  put('gen', next, 'fill', next, 'n', 0, 'q', '')
  redis.call('DEL', L)
end
return 1
