-- take.lua: remove a live session and return what it held, in one step.
-- KEYS[1]  session key
-- KEYS[2]  its bucket's count hash
-- ARGV[1]  now, Unix milliseconds
-- ARGV[2]  how long the "moved" marker left in its place lives, milliseconds
-- ARGV[3]  the operation's ID: a replay of this take (a client retrying after its
--          connection dropped) answers what the take took, instead of "moved"
-- Returns  {'OK', name, value, ...} the session hash; {'NOTFOUND'} no live session;
--          {'MOVED'} another take moved it moments ago. Error "CORRUPT ..." when the
--          metadata cannot be read.
-- Leaves   a marker under the key: "@m" (until when it lives), "@t" (the take's ID) and
--          the session's fields renamed "@~<name>" (so that nothing reads them as a
--          session: only a replay of the same take gets them back). Requests still
--          carrying the old ID are told the session moved (load.lua, commit.lua).
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  return {'NOTFOUND'}
end
local raw, moved, by
for j = 1, #h, 2 do
  local f = h[j]
  if f == '@' then raw = h[j + 1]
  elseif f == '@m' then moved = h[j + 1]
  elseif f == '@t' then by = h[j + 1] end
end
local now = tonumber(ARGV[1])
if moved then
  if by == ARGV[3] then
    local out = {'OK'}
    for j = 1, #h, 2 do
      if string.sub(h[j], 1, 2) == '@~' then
        out[#out + 1] = string.sub(h[j], 3)
        out[#out + 1] = h[j + 1]
      end
    end
    return out
  end
  if now < tonumber(moved) then return {'MOVED'} end
  return {'NOTFOUND'}
end
if not raw then
  return redis.error_reply('CORRUPT session metadata is missing')
end
local c, t, i, d = meta(raw)
if not c then return t end
local exp = math.min(t + i, d)
local L = lib()
redis.call('DEL', KEYS[1])
pcall(L.count_remove, KEYS[2], exp)
if now >= exp then
  return {'NOTFOUND'}
end
local until_ms = L.ms(now + tonumber(ARGV[2]))
local marker = {'@m', until_ms, '@t', ARGV[3]}
local out = {'OK'}
for j = 1, #h, 2 do
  marker[#marker + 1] = '@~' .. h[j]
  marker[#marker + 1] = h[j + 1]
  out[#out + 1] = h[j]
  out[#out + 1] = h[j + 1]
end
-- HSET in chunks: unpack() of thousands of arguments overflows Lua's C stack.
for j = 1, #marker, 200 do
  redis.call('HSET', KEYS[1], unpack(marker, j, math.min(j + 199, #marker)))
end
redis.call('PEXPIREAT', KEYS[1], until_ms)
return out
