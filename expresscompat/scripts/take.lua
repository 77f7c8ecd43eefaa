-- take.lua: remove a session document and return it, in one step, at
-- most once per operation id. Node reads the session key, so the moved
-- marker (and the document, for a retry of this take) go to the side key.
-- KEYS[1]  session key ("sess:<id>")
-- KEYS[2]  its side key ("{sess:<id>}:seshat", same slot)
-- ARGV[1]  the operation id
-- ARGV[2]  how long the marker stays, milliseconds
-- Returns  {1, document} taken (now, or by an earlier run of this take whose
--          reply was lost); {-1} none; {-2} moved by another take
local done = redis.call('HGET', KEYS[2], 'op:' .. ARGV[1])
if done then
  return {1, done}
end
local cur = redis.call('GET', KEYS[1])
if not cur then
  if redis.call('HEXISTS', KEYS[2], 'moved') == 1 then
    return {-2}
  end
  return {-1}
end
redis.call('DEL', KEYS[1])
redis.call('HSET', KEYS[2], 'moved', '1', 'op:' .. ARGV[1], cur)
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {1, cur}
