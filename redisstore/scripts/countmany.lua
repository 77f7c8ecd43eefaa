#!lua flags=allow-cross-slot-keys,allow-oom
-- countmany.lua: the live sessions of many buckets on one node, in one call (count.lua,
-- bucket by bucket, costs a script call per bucket: too many with one bucket per slot).
-- KEYS[1]  one of the count hashes: it routes the call to the node that holds them all
-- ARGV[1]  now, Unix milliseconds
-- ARGV[2…] the count hashes, KEYS[1] among them, all in slots of the node that holds
--          KEYS[1] (Redis 7's allow-cross-slot-keys lets a script reach keys of other slots
--          of its node, not of other nodes; Redis 6.2 refuses the shebang: Store.count then
--          runs count.lua per bucket)
-- Returns  {live, i, j, …}: the live sessions of the count hashes it could read, and the
--          positions in ARGV (2…) of those that hold something seshat did not write (i > 0)
--          or that this node could not read (-i): their slot has moved or is moving to
--          another node (Redis refuses a non-local key: the count hash may already be on
--          the importing node), so the caller counts them again one by one, following
--          the redirections
-- Writes   what count.lua writes: the subtraction of expired slots, where one has passed.
--          allow-oom: that deletes fields and rewrites two numbers, and a count must work
--          when Redis is full.
-- A bucket whose last subtracted slot is current (the common case, Count running more
-- often than SLOT) costs one call; one after which slots have passed, two or three more
-- (count_step), however many up to STEP_MAX.
local now = tonumber(ARGV[1])
local target = math.floor(now / SLOT)
local live, out = 0, {0}
for j = 2, #ARGV do
  local k = ARGV[j]
  local ok, f = pcall(redis.call, 'HMGET', k, 'p', 'n')
  local p, n
  if ok then p, n = tonumber(f[1]), tonumber(f[2]) end
  if not ok and not string.find(type(f) == 'table' and tostring(f.err) or tostring(f), 'WRONGTYPE', 1, true) then
    out[#out + 1] = -j
  elseif not ok or (f[1] and not p) or (f[2] and not n) then
    out[#out + 1] = j
  elseif p and target > p then
    local ok2, c
    if target - p <= STEP_MAX then
      ok2, c = pcall(lib().count_step, k, p, n, target)
    else
      ok2, c = pcall(lib().count_prune, k, now, 1000000)
    end
    if ok2 and type(c) == 'number' then
      live = live + math.max(c, 0)
    else
      out[#out + 1] = j
    end
  elseif p then
    live = live + math.max(n or 0, 0)
  end
end
out[1] = live
return out
