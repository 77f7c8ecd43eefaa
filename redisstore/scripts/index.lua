-- index.lua: add a session to a user's index, before the session is bound, so that
-- no bound session is ever missing from its user's index.
-- KEYS[1]  user index key (a sorted set of session keys, scored by creation time)
-- ARGV[1]  session key (member)
-- ARGV[2]  session creation time, Unix milliseconds (score)
-- ARGV[3]  the session's absolute deadline, Unix milliseconds
-- ARGV[4]  now, Unix milliseconds
-- ARGV[5]  the user as stored, kept as the member "~<user>" (score -1) so that the
--          expiry sweeper can name the user of a session that is gone
-- Returns  1 indexed, 0 not (the deadline is past)
-- The index lives as long as its longest-lived session: its expiry only grows.
local now, deadline = tonumber(ARGV[4]), tonumber(ARGV[3])
if deadline <= now then
  return 0 -- a session already past its deadline needs no entry
end
redis.call('ZADD', KEYS[1], ARGV[2], ARGV[1], -1, '~' .. ARGV[5])
local ttl = redis.call('PTTL', KEYS[1])
if ttl < 0 or now + ttl < deadline then
  redis.call('PEXPIREAT', KEYS[1], ARGV[3])
end
return 1
