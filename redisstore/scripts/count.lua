-- count.lua: the number of live sessions in one bucket (see the prelude).
-- KEYS[1]  the bucket's count hash
-- ARGV[1]  now, Unix milliseconds
-- Returns  the live sessions, after subtracting those whose expiry slot has passed; -1 when
--          the key is not a count hash seshat wrote (a foreign value, a wrong type)
-- Writes   the subtraction (it only prunes what has expired).
local ok, n = pcall(lib().count_prune, KEYS[1], tonumber(ARGV[1]), 1000000)
if not ok or type(n) ~= 'number' then
  return -1 -- not a count hash (written by something else): see Store.Count
end
return n
