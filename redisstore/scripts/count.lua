-- count.lua: the number of live sessions in one bucket (see the prelude).
-- KEYS[1]  the bucket's count hash
-- ARGV[1]  now, Unix milliseconds
-- Returns  the live sessions, after subtracting those whose expiry slot has passed
-- Writes   the subtraction (it only prunes what has expired).
return lib().count_prune(KEYS[1], tonumber(ARGV[1]), 1000000)
