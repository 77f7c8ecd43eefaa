-- count.lua: the number of live sessions in one bucket (see the prelude).
-- KEYS[1]  the bucket's count hash
-- ARGV[1]  now, Unix milliseconds
-- Returns  the live sessions, after subtracting those whose expiry slot has passed; -1 when
--          the key is not a count hash seshat wrote (a wrong type, fields that are not numbers)
-- Writes   the subtraction (it only prunes what has expired).
local t = redis.call('TYPE', KEYS[1]).ok
if t == 'none' then
  return 0
end
if t ~= 'hash' then
  return -1
end
local f = redis.call('HMGET', KEYS[1], 'p', 'n')
if (f[1] and not tonumber(f[1])) or (f[2] and not tonumber(f[2])) then
  return -1
end
local ok, n = pcall(lib().count_prune, KEYS[1], tonumber(ARGV[1]), 1000000)
if not ok or type(n) ~= 'number' then
  return -1
end
-- Sessions created while the hash was not countable may leave later than they came:
-- never below zero.
return math.max(n, 0)
