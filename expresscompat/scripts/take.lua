-- take.lua: remove a session document and return it, in one step.
-- KEYS[1]  session key ("sess:<id>")
-- Returns  the document, or nil
local cur = redis.call('GET', KEYS[1])
if cur then
  redis.call('DEL', KEYS[1])
end
return cur
