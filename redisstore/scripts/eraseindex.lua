-- eraseindex.lua: delete a user's index that names nothing but its user (the member
-- "~<user>", see index.lua), atomically: a session indexed meanwhile keeps it.
-- KEYS[1]  user index key
-- Returns  1 deleted, 0 kept
if redis.call('ZCARD', KEYS[1]) == 1 then
  local first = redis.call('ZRANGE', KEYS[1], 0, 0)[1]
  if string.sub(first, 1, 1) == '~' then
    return redis.call('DEL', KEYS[1])
  end
end
return 0
