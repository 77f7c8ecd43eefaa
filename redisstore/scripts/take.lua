-- take.lua: remove a live session and return what it held, in one step.
-- KEYS[1]  session key
-- ARGV[1]  now, Unix milliseconds
-- Returns  the session hash as a flat array (name, value, ...), or nil when there is
--          no live session. Error "CORRUPT ..." when the metadata cannot be read.
local h = redis.call('HGETALL', KEYS[1])
if #h == 0 then
  return false
end
redis.call('DEL', KEYS[1])
local t, idle, d, v
for i = 1, #h, 2 do
  local f = h[i]
  if f == '@t' then t = tonumber(h[i + 1])
  elseif f == '@i' then idle = tonumber(h[i + 1])
  elseif f == '@d' then d = tonumber(h[i + 1])
  elseif f == '@v' then v = h[i + 1]
  end
end
if v ~= '1' or not (t and idle and d) then
  return redis.error_reply('CORRUPT session metadata is missing or malformed')
end
local now = tonumber(ARGV[1])
if now >= d or now >= t + idle then
  return false
end
return h
