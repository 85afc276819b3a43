-- abort, reset and the break after a panicking action: ARGV = ttl, op, party, parties, epoch
-- for a new record (abort and panicked re-create a lost record, so that the break holds).
--   abort:    breaks the barrier (Aborted, by party); a broken barrier stays as it is.
--   panicked: breaks it (ActionPanicked, by party, the leader).
--   reset:    breaks what is waiting (Reset, by party), then leaves the barrier intact and
--             empty, generation() one past the generation it broke.
local H = lib()
local num, put, epoch, with_epoch, genkey = H.num, H.put, H.epoch, H.with_epoch, H.genkey
local op, party = ARGV[2], ARGV[3]
if not H.load() then
  if op == 'reset' then return 0 end
  H.create(ARGV[4], ARGV[5])
end
H.begin()
if op == 'abort' then
  H.brk('Aborted', party)
elseif op == 'panicked' then
  H.brk('ActionPanicked', party)
elseif op == 'reset' then
  H.brk('Reset', party)
  H.more()
  -- One past the newest broken generation; an idle reset moves generation() by one.
  local next = math.max(num('last') + 1, num('gen') + 1)
  redis.call('HDEL', S, 'broken', 'by', 'arrived', 'last')
  st.broken, st.by, st.arrived, st.last = nil, nil, nil, nil
  put('gen', next, 'fill', next, 'n', 0)
end
return 1
