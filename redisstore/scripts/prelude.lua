-- prelude.lua: shared by every session script (prepended to each when embedded).
--
-- A session is a hash: its values under their names, "@" its metadata and "@u" its user.
-- "@" is "<version> <created> <touched-created> <idle> <deadline-created> <size>": Unix
-- milliseconds and milliseconds relative to created (one short field keeps a session small).
--
-- Beside the sessions of a hash-tag bucket lives the bucket's count hash (KEYS[2] of every
-- session script, same slot): "n" the live sessions, "p" the last expiry slot already
-- subtracted from "n", and "<slot>" how many sessions expire in that slot of SLOT ms. So
-- the count is exact for creations and destructions, and follows expiry to within SLOT ms,
-- without scanning and without any per-session entry.
local SLOT = 5000

local function meta_parse(raw)
  if not raw then return nil end
  local v = string.match(raw, '^(%d+) ')
  if v ~= '1' then
    return redis.error_reply('CORRUPT unknown session format version ' .. tostring(v))
  end
  local c, t, i, d, s = string.match(raw, '^1 (%d+) (%-?%d+) (%d+) (%-?%d+) (%d+)$')
  if not c then
    return redis.error_reply('CORRUPT session metadata is malformed')
  end
  c = tonumber(c)
  return {c = c, t = c + tonumber(t), i = tonumber(i), d = c + tonumber(d), s = tonumber(s)}
end

local function meta_format(m)
  return string.format('1 %.0f %.0f %.0f %.0f %.0f', m.c, m.t - m.c, m.i, m.d - m.c, m.s)
end

local function expires(m)
  return math.min(m.t + m.i, m.d)
end

local function slot_of(ms)
  return math.ceil(ms / SLOT)
end

-- count_add: a session expiring at exp joins the count (unless already past).
local function count_add(bucket, exp, now)
  redis.call('HSETNX', bucket, 'p', string.format('%.0f', math.floor(now / SLOT)))
  local p = tonumber(redis.call('HGET', bucket, 'p'))
  local s = slot_of(exp)
  if s <= p then return end
  redis.call('HINCRBY', bucket, 'n', 1)
  redis.call('HINCRBY', bucket, string.format('%.0f', s), 1)
  local ttl = redis.call('PTTL', bucket)
  local until_ms = s * SLOT + SLOT
  if ttl < 0 or now + ttl < until_ms then
    redis.call('PEXPIREAT', bucket, string.format('%.0f', until_ms))
  end
end

-- count_remove: a session expiring at exp leaves the count (unless already subtracted).
local function count_remove(bucket, exp)
  local p = tonumber(redis.call('HGET', bucket, 'p'))
  local s = slot_of(exp)
  if not p or s <= p then return end
  local f = string.format('%.0f', s)
  if redis.call('HINCRBY', bucket, f, -1) <= 0 then redis.call('HDEL', bucket, f) end
  redis.call('HINCRBY', bucket, 'n', -1)
end

-- count_move: a session's expiry moved from old to new. Most commits stay in the
-- same slot and cost nothing here.
local function count_move(bucket, old, new, now)
  if slot_of(old) == slot_of(new) then return end
  count_remove(bucket, old)
  count_add(bucket, new, now)
end

-- count_prune: subtract the sessions whose slot has passed, visiting at most limit slots
-- (or every field when the gap is wider than the hash). Returns the live count.
local function count_prune(bucket, now, limit)
  local p = tonumber(redis.call('HGET', bucket, 'p'))
  if not p then return 0 end
  local target = math.floor(now / SLOT)
  if target <= p then return tonumber(redis.call('HGET', bucket, 'n') or 0) end
  local gone = 0
  local hlen = redis.call('HLEN', bucket)
  local function drop(from, to)
    for s = from, to do
      local f = string.format('%.0f', s)
      local c = redis.call('HGET', bucket, f)
      if c then
        gone = gone + tonumber(c)
        redis.call('HDEL', bucket, f)
      end
    end
  end
  if target - p <= math.min(limit, hlen) then
    drop(p + 1, target)
  elseif hlen <= limit then
    local all = redis.call('HGETALL', bucket)
    for j = 1, #all, 2 do
      local s = tonumber(all[j])
      if s and s <= target then
        gone = gone + tonumber(all[j + 1])
        redis.call('HDEL', bucket, all[j])
      end
    end
  else
    -- Far behind and a big hash: make bounded progress.
    target = p + limit
    drop(p + 1, target)
  end
  redis.call('HSET', bucket, 'p', string.format('%.0f', target))
  if gone == 0 then
    return tonumber(redis.call('HGET', bucket, 'n') or 0)
  end
  return redis.call('HINCRBY', bucket, 'n', string.format('%d', -gone))
end
-- end of prelude
