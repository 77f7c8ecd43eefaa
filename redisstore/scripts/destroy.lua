-- destroy.lua: remove a session.
-- KEYS[1]  session key
-- Returns  the user the session was bound to (so the caller can tidy the user's
--          index), or nil.
local user = redis.call('HGET', KEYS[1], '@u')
redis.call('DEL', KEYS[1])
return user
