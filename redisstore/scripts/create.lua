-- create.lua: store a new session, unless the key is taken.
-- KEYS[1]  session key
-- KEYS[2]  its bucket's count hash
-- KEYS[3]  its bucket's operation log for the current window (see prelude.lua)
-- ARGV[1]  now, Unix milliseconds
-- ARGV[2]  metadata ("@", see the prelude)
-- ARGV[3…] name, value pairs: "@u" (the user) if bound, and the values; then
--          the operation's ID and how long the operation log keeps it (ms), last
-- Returns  1 created; 0 the key exists (nothing written); -1 already expired (nothing written)
--          A replay of a create that was applied (the client retrying after its connection
--          dropped) finds its ID in the log and answers 1.
local n = #ARGV - 2
local op, ttl = ARGV[n + 1], ARGV[n + 2]
if redis.call('EXISTS', KEYS[1]) == 1 then
  if replayed(KEYS[3], op) then
    return 1
  end
  return 0
end
local c, t, i, d = meta(ARGV[2])
if not c then return t end
local now = tonumber(ARGV[1])
local exp = math.min(t + i, d)
if exp <= now then
  return -1
end
-- HSET in chunks: unpack() of thousands of arguments overflows Lua's C stack.
redis.call('HSET', KEYS[1], '@', unpack(ARGV, 2, math.min(202, n)))
for j = 203, n, 200 do
  redis.call('HSET', KEYS[1], unpack(ARGV, j, math.min(j + 199, n)))
end
redis.call('PEXPIREAT', KEYS[1], string.format('%.0f', exp))
local counted, p = pcall(count_add, KEYS[2], exp, now)
if counted and p and p < math.floor(now / SLOT) then
  pcall(lib().count_prune, KEYS[2], now, 20) -- keep the count hash small without a sweeper
end
applied(KEYS[3], op, 1, ttl)
return 1
