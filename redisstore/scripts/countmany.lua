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
--          positions in ARGV (2…) of those that hold something seshat did not write
-- Writes   what count.lua writes: the subtraction of expired slots, where one has passed.
--          allow-oom: that deletes fields and rewrites two numbers, and a count must work
--          when Redis is full.
-- A bucket whose last subtracted slot is current (the common case, Count running more
-- often than SLOT) costs one call; one whose next slot has passed, one or two more
-- (count_step).
-- A chunk none of whose count hashes exists (a layout not in use) costs one call where
-- one command may reach keys of many slots (not on a Cluster: there EXISTS fails here).
if #ARGV > 2 then
  local ok, e = pcall(redis.call, 'EXISTS', unpack(ARGV, 2))
  if ok and e == 0 then
    return {0}
  end
end
local now = tonumber(ARGV[1])
local target = math.floor(now / SLOT)
local next_slot = string.format('%.0f', target)
local live, out = 0, {0}
for j = 2, #ARGV do
  local k = ARGV[j]
  -- With the field of now's slot: what to subtract when it is the one slot passed.
  local ok, f = pcall(redis.call, 'HMGET', k, 'p', 'n', next_slot)
  local p, n
  if ok then p, n = tonumber(f[1]), tonumber(f[2]) end
  if not ok or (f[1] and not p) or (f[2] and not n) or (f[3] and not tonumber(f[3])) then
    out[#out + 1] = j
  elseif p and target > p then
    local ok2, c
    if target == p + 1 then
      ok2, c = pcall(lib().count_step, k, p, n, f[3])
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
