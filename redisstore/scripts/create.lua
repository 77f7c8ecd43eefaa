-- create.lua: store a new session, unless the key is taken.
-- KEYS[1]  session key
-- KEYS[2]  its bucket's count hash
-- ARGV[1]  now, Unix milliseconds
-- ARGV[2]  when the session expires, Unix milliseconds: the earlier of touched + idle
--          timeout and the deadline, as the metadata says
-- ARGV[3]  metadata ("@", see the prelude)
-- ARGV[4…] name, value pairs: "@u" (the user) if bound, and the values
-- Returns  1 created; 0 the key exists (nothing written); -1 already expired (nothing written)
--          A replay of a create that was applied (the client retrying after its connection
--          dropped) finds exactly the fields it writes, and answers 1: a key names one
--          creation (the keyed hash of a fresh 256-bit ID), so that is its own work. No
--          operation log then, which would cost a creation two calls and ~70 bytes for 10 s.
-- Calls    EXISTS, HSET, PEXPIREAT, and two HINCRBY on the count hash (the first session
--          of an expiry slot reads and may prune it: see count_add).
local n = #ARGV
if redis.call('EXISTS', KEYS[1]) == 1 then
  local ok, h = pcall(redis.call, 'HGETALL', KEYS[1])
  if not ok or #h ~= n - 1 then
    return 0
  end
  local want = {['@'] = ARGV[3]}
  for j = 4, n, 2 do want[ARGV[j]] = ARGV[j + 1] end
  for j = 1, #h, 2 do
    if want[h[j]] ~= h[j + 1] then return 0 end
  end
  return 1
end
local now, exp = tonumber(ARGV[1]), tonumber(ARGV[2])
if exp <= now then
  return -1
end
-- HSET in chunks: unpack() of thousands of arguments overflows Lua's C stack.
redis.call('HSET', KEYS[1], '@', unpack(ARGV, 3, math.min(203, n)))
for j = 204, n, 200 do
  redis.call('HSET', KEYS[1], unpack(ARGV, j, math.min(j + 199, n)))
end
redis.call('PEXPIREAT', KEYS[1], ARGV[2])
local counted, p = pcall(count_add, KEYS[2], exp, now)
if counted and p and p < math.floor(now / SLOT) then
  pcall(lib().count_prune, KEYS[2], now, 20) -- keep the count hash small without a sweeper
end
return 1
