-- cas.lua: replace a session document only if it is still the one read.
-- KEYS[1]  session key ("sess:<id>")
-- ARGV[1]  the document as read
-- ARGV[2]  the new document
-- ARGV[3]  its time to live, milliseconds
-- Returns  {1} replaced; {0, current} changed meanwhile (nothing written); {-1} gone
local cur = redis.call('GET', KEYS[1])
if not cur then
  return {-1}
end
if cur ~= ARGV[1] then
  return {0, cur}
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
return {1}
