-- destroy.lua: remove a session.
-- KEYS[1]  session key
-- KEYS[2]  its bucket's count hash
-- Returns  the user the session was bound to (so the caller can tidy the user's
--          index), or nil.
local r = redis.call('HMGET', KEYS[1], '@', '@u')
if redis.call('DEL', KEYS[1]) == 1 and r[1] then
  local m = meta_parse(r[1])
  if not m.err then count_remove(KEYS[2], expires(m)) end
end
return r[2]
