-- destroy.lua: remove a session.
-- KEYS[1]  session key
-- KEYS[2]  its bucket's count hash
-- Returns  the user the session was bound to (so the caller can tidy the user's
--          index), or nil.
local r = redis.call('HMGET', KEYS[1], '@', '@u')
if redis.call('DEL', KEYS[1]) == 1 and r[1] then
  local c, t, i, d = meta(r[1])
  if c then pcall(lib().count_remove, KEYS[2], math.min(t + i, d)) end
end
return r[2]
