-- cas.lua: replace a session document only if it is still the one read,
-- at most once per operation id.
-- KEYS[1]  session key ("sess:<id>")
-- KEYS[2]  its side key ("{sess:<id>}:seshat", same slot): operation ids
--          applied in the last minute, and the moved marker
-- ARGV[1]  the document as read
-- ARGV[2]  the new document
-- ARGV[3]  its time to live, milliseconds
-- ARGV[4]  the operation id
-- Returns  {1} replaced (now, or by an earlier run of this operation whose
--          reply was lost); {0, current} changed meanwhile (nothing
--          written); {-1} gone; {-2} moved by a regenerate
if redis.call('HEXISTS', KEYS[2], 'op:' .. ARGV[4]) == 1 then
  return {1}
end
local cur = redis.call('GET', KEYS[1])
if not cur then
  if redis.call('HEXISTS', KEYS[2], 'moved') == 1 then
    return {-2}
  end
  return {-1}
end
if cur ~= ARGV[1] then
  return {0, cur}
end
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('HSET', KEYS[2], 'op:' .. ARGV[4], '1')
redis.call('PEXPIRE', KEYS[2], 60000)
return {1}
