-- load.lua: read a live session, refreshing its idle expiry when a touch is due.
-- KEYS[1]  session key
-- ARGV[1]  now, Unix milliseconds
-- ARGV[2]  touch after, milliseconds: touch when now - @t >= this
-- Returns  the session hash as a flat array (name, value, ...), or nil when there is
--          no live session. Error "CORRUPT ..." when the metadata cannot be read.
-- Writes   only when a touch is due: @t and the key's expiry.
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  return false
end
local meta = {}
for i = 1, #h, 2 do
  if string.byte(h[i], 1) == 64 then -- '@'
    meta[h[i]] = i + 1
  end
end
local t, idle, d = tonumber(h[meta['@t'] or 0]), tonumber(h[meta['@i'] or 0]), tonumber(h[meta['@d'] or 0])
if not (meta['@v'] and t and idle and d) then
  return redis.error_reply('CORRUPT session metadata is missing or malformed')
end
if h[meta['@v']] ~= '1' then
  return redis.error_reply('CORRUPT unknown session format version ' .. h[meta['@v']])
end
local now = tonumber(ARGV[1])
if now >= d or now >= t + idle then
  return false
end
if now - t >= tonumber(ARGV[2]) then
  redis.call('HSET', KEYS[1], '@t', ARGV[1])
  redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', math.min(now + idle, d)))
  h[meta['@t']] = ARGV[1]
end
return h
