-- load.lua: read a live session, refreshing its idle expiry when a touch is due.
-- (Store.Load reads with a plain HGETALL and runs this only when its copy says a touch
-- is due: once per touch interval.)
-- KEYS[1]  session key
-- KEYS[2]  its bucket's count hash
-- ARGV[1]  now, Unix milliseconds
-- ARGV[2]  touch after, milliseconds: touch when now - touched >= this
-- Returns  the session hash as a flat array (name, value, ...), or nil when there is
--          no live session. Error "CORRUPT ..." when the metadata cannot be read,
--          "SESHATMOVED ..." when take.lua left its marker.
-- Writes   only when a touch is due: "@", the key's expiry and the count.
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  return false
end
local at
for j = 1, #h, 2 do
  if h[j] == '@' then at = j + 1 end
  if h[j] == '@m' then
    if tonumber(ARGV[1]) < tonumber(h[j + 1]) then
      return redis.error_reply('SESHATMOVED the session moved to a new ID')
    end
    return false
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
  return false
end
if now - t >= tonumber(ARGV[2]) then
  local L = lib()
  h[at] = L.pack_meta(c, now, i, d, s)
  redis.call('HSET', KEYS[1], '@', h[at])
  local exp = math.min(now + i, d)
  redis.call('PEXPIREAT', KEYS[1], L.ms(exp))
  pcall(L.count_move, KEYS[2], old, exp, now)
end
return h
