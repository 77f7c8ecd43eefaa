-- create.lua: store a new session, unless the key is taken.
-- KEYS[1]  session key
-- ARGV[1]  now, Unix milliseconds
-- ARGV[2]  expire at, Unix milliseconds
-- ARGV[3…] name, value pairs: metadata (@v, @c, @t, @i, @d, @s, @u) and values
-- Returns  1 created; 0 the key exists (nothing written); -1 already expired (nothing written)
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
if tonumber(ARGV[2]) <= tonumber(ARGV[1]) then
  return -1
end
-- HSET in chunks: unpack() of thousands of arguments overflows Lua's C stack.
local n = #ARGV
for i = 3, n, 200 do
  redis.call('HSET', KEYS[1], unpack(ARGV, i, math.min(i + 199, n)))
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
return 1
