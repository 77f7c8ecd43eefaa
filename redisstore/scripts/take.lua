-- take.lua: remove a live session and return what it held, in one step.
-- KEYS[1]  session key
-- KEYS[2]  its bucket's count hash
-- ARGV[1]  now, Unix milliseconds
-- ARGV[2]  how long the "moved" marker left in its place lives, milliseconds
-- Returns  the session hash as a flat array (name, value, ...), or nil when there is
--          no live session. Error "CORRUPT ..." when the metadata cannot be read.
-- Leaves   a hash {"@m": until} under the key, so that requests still carrying the old
--          ID are told the session moved (load.lua, commit.lua) rather than not found.
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  return false
end
local raw
for j = 1, #h, 2 do
  if h[j] == '@' then raw = h[j + 1] end
  if h[j] == '@m' then return false end
end
if not raw then
  return redis.error_reply('CORRUPT session metadata is missing')
end
local c, t, i, d = meta(raw)
if not c then return t end
local exp = math.min(t + i, d)
local L = lib()
redis.call('DEL', KEYS[1])
L.count_remove(KEYS[2], exp)
if tonumber(ARGV[1]) >= exp then
  return false
end
local until_ms = L.ms(tonumber(ARGV[1]) + tonumber(ARGV[2]))
redis.call('HSET', KEYS[1], '@m', until_ms)
redis.call('PEXPIREAT', KEYS[1], until_ms)
return h
