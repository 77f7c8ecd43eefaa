-- load.lua: read a live session, refreshing its idle expiry when a touch is due.
-- (Store.Load reads with a plain HGETALL and runs this only when its copy says a touch
-- is due: once per touch interval.)
-- KEYS[1]  session key
-- KEYS[2]  its bucket's count hash
-- ARGV[1]  now, Unix milliseconds
-- ARGV[2]  touch after, milliseconds: touch when now - touched >= this
-- Returns  as every script, a status first: {'OK', name, value, ...} the session hash;
--          {'NOTFOUND'}: no live session; {'MOVED'}: take.lua moved it moments ago.
--          Error "CORRUPT ..." when the metadata cannot be read.
-- Writes   only when a touch is due: "@", the key's expiry and the count.
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  return {'NOTFOUND'}
end
local at
for j = 1, #h, 2 do
  if h[j] == '@' then at = j + 1 end
  if h[j] == '@m' then
    if tonumber(ARGV[1]) < tonumber(h[j + 1]) then return {'MOVED'} end
    return {'NOTFOUND'}
  end
end
if not at then
  return redis.error_reply('CORRUPT session metadata is missing')
end
local c, t, i, d, s = meta(h[at])
if not c then return t end
local now = tonumber(ARGV[1])
local old = math.min(t + i, d)
if now >= old then
  return {'NOTFOUND'}
end
if now - t >= tonumber(ARGV[2]) then
  local L = lib()
  h[at] = L.pack_meta(c, now, i, d, s)
  redis.call('HSET', KEYS[1], '@', h[at])
  local exp = math.min(now + i, d)
  redis.call('PEXPIREAT', KEYS[1], L.ms(exp))
  pcall(L.count_move, KEYS[2], old, exp, now)
end
table.insert(h, 1, 'OK')
return h
