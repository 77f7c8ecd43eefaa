-- create.lua: store a new session document unless the key is taken, at
-- most once per operation id.
-- KEYS[1]  session key ("sess:<id>")
-- KEYS[2]  its side key ("{sess:<id>}:seshat", same slot)
-- ARGV[1]  the document
-- ARGV[2]  its time to live, milliseconds
-- ARGV[3]  the operation id
-- Returns  1 stored (now, or by an earlier run of this creation whose reply
--          was lost); 0 the key is taken
if redis.call('HEXISTS', KEYS[2], 'op:' .. ARGV[3]) == 1 then
  return 1
end
if not redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
  return 0
end
redis.call('HSET', KEYS[2], 'op:' .. ARGV[3], '1')
redis.call('PEXPIRE', KEYS[2], 60000)
return 1
