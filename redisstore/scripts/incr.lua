-- incr.lua: the commit of a request that only increments one value (a view counter),
-- the most common write; commit.lua does the same among everything else, at more cost.
-- KEYS[1]  session key
-- KEYS[2]  its bucket's count hash
-- KEYS[3]  its bucket's operation log for the current window (see prelude.lua)
-- ARGV[1]  now, Unix milliseconds
-- ARGV[2]  name of the value
-- ARGV[3]  amount
-- ARGV[4]  touch after, milliseconds: refresh the idle expiry when now - touched >= this
-- ARGV[5]  maximum size in bytes (names plus values), 0 for none
-- ARGV[6]  the operation's ID; ARGV[7] how long the operation log keeps it, ms
-- Returns  as commit.lua (the value an integer, a decimal string beyond 2^53): {'OK', value} | {'NOTFOUND'} | {'MOVED'} | {'TOOLARGE', size}
--          | {'NOTINT'}; error "CORRUPT …" when the metadata cannot be read. A replay of an
--          applied operation (same ID) answers {'OK', its recorded value} and changes nothing.
-- Calls    HGET (the log), HMGET, HINCRBY, HSET and PEXPIREAT (the log); HSET of "@" only
--          when the size changes or a touch is due.
local key, name = KEYS[1], ARGV[2]
local done = replayed(KEYS[3], ARGV[6])
if done then
  return {'OK', done}
end
local r = redis.call('HMGET', key, '@', '@m', name)
local now = tonumber(ARGV[1])
if r[2] then
  if now < tonumber(r[2]) then return {'MOVED'} end
  return {'NOTFOUND'}
end
if not r[1] then
  if redis.call('EXISTS', key) == 0 then
    return {'NOTFOUND'}
  end
  return redis.error_reply('CORRUPT session metadata is missing')
end
local c, t, i, d, s = meta(r[1])
if not c then return t end
local exp = math.min(t + i, d)
if now >= exp then
  return {'NOTFOUND'}
end
local v = redis.pcall('HINCRBY', key, name, ARGV[3])
if type(v) == 'table' then
  -- Nothing changed. Not a canonical integer, or it would overflow: say so; anything
  -- else (OOM when Redis is full) goes back as the error it is.
  if string.find(v.err, 'not an integer', 1, true) or string.find(v.err, 'overflow', 1, true) then
    return {'NOTINT'}
  end
  return v
end
local before = r[3]
-- The value's length, for the size: counted, not formatted (string.format costs a
-- microsecond). Lua numbers are doubles: beyond 2^53 read the exact value back.
local result, len
if v > -9007199254740992 and v < 9007199254740992 then
  result, len = v, v < 0 and 2 or 1
  local a, p = math.abs(v), 10
  while a >= p do len, p = len + 1, p * 10 end
else
  result = redis.call('HGET', key, name)
  len = #result
end
local size = s - (before and #name + #before or 0) + #name + len
local max = tonumber(ARGV[5])
if max > 0 and size > max and size > s then
  if before then redis.call('HSET', key, name, before) else redis.call('HDEL', key, name) end
  return {'TOOLARGE', tostring(size)}
end
local touch = now - t >= tonumber(ARGV[4])
if touch or size ~= s then
  local L = lib()
  if touch then t = now end
  redis.call('HSET', key, '@', L.pack_meta(c, t, i, d, size))
  if touch then
    local nexp = math.min(t + i, d)
    redis.call('PEXPIREAT', key, L.ms(nexp))
    pcall(L.count_move, KEYS[2], exp, nexp, now)
  end
end
applied(KEYS[3], ARGV[6], result, ARGV[7])
return {'OK', result}
