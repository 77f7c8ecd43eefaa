-- prelude.lua: shared by every session script (prepended to each when embedded).
--
-- A session is a hash: its values under their names, "@" its metadata and "@u" its user.
-- "@" is 37 bytes, little-endian (struct format META): the format version (1), created
-- (Unix ms), touched - created, idle timeout, deadline - created (ms) and the size (bytes of
-- names and values). Binary because Redis runs struct.unpack ten times faster than a
-- string pattern, and scripts are where Redis spends its time.
--
-- The count is bookkeeping: scripts call its functions through pcall, so a count hash
-- that something else overwrote (a wrong type, garbage fields) stops counting its bucket
-- (Store.Count reports it by name) but never fails a session's write.
--
-- Beside the sessions of a hash-tag bucket lives the bucket's count hash (KEYS[2] of every
-- session script, same slot): "n" the live sessions, "p" the last expiry slot already
-- subtracted from "n", "e" when the latest slot counted ends (the hash's expiry), and
-- "<slot>" how many sessions expire in that slot of SLOT ms. So
-- the count is exact for creations and destructions, and follows expiry to within SLOT ms,
-- without scanning and without any per-session entry.
--
-- Every closure a script defines is built again on every call, at a cost Redis pays each
-- time: the functions below but meta and count_add are built on first use, by lib(), so
-- that the common paths (an increment, a small commit, a creation) build few.
local META = '<Bi8i8i8i8i4'
local META_LEN = 37
local SLOT = 5000
local STEP_MAX = 64 -- slots count_step subtracts at once (5 min 20 s)

-- meta returns created, touched, idle, deadline, size of a "@" value, or nil and an error
-- reply when it cannot be read.
local function meta(raw)
  if #raw ~= META_LEN or string.byte(raw, 1) ~= 1 then
    if string.byte(raw, 1) ~= 1 then
      return nil, redis.error_reply('CORRUPT unknown session format version')
    end
    return nil, redis.error_reply('CORRUPT session metadata is malformed')
  end
  local _, c, t, i, d, s = struct.unpack(META, raw)
  return c, c + t, i, c + d, s
end

-- count_add: a session expiring at exp joins the count (unless its slot has passed).
-- Every slot field in the hash is later than "p" (count_prune deletes a slot's field
-- when it subtracts it) and within "e", the end of the latest slot counted, which the
-- hash's own expiry covers. So when the session's slot field already exists, incrementing
-- it and "n" is all there is to do: two calls, for all but the first session of a slot.
-- Returns the last slot already subtracted ("p") when it read it, else nil.
local function count_add(bucket, exp, now)
  local s = math.ceil(exp / SLOT)
  local f = string.format('%.0f', s)
  if redis.call('HINCRBY', bucket, f, 1) > 1 then
    redis.call('HINCRBY', bucket, 'n', 1)
    return nil
  end
  -- The slot's first session: check the slot against "p", and the hash's expiry.
  local b = redis.call('HMGET', bucket, 'p', 'e')
  local p = tonumber(b[1])
  if not p then
    p = math.floor(now / SLOT)
    redis.call('HSET', bucket, 'p', string.format('%.0f', p))
  end
  if s <= p then
    redis.call('HDEL', bucket, f) -- already subtracted: not counted
    return p
  end
  redis.call('HINCRBY', bucket, 'n', 1)
  local until_ms = s * SLOT + SLOT
  local e = tonumber(b[2])
  if not e then
    -- A count hash without "e" (written before it existed): its expiry, once.
    local ttl = redis.call('PTTL', bucket)
    e = ttl > 0 and now + ttl or 0
    redis.call('HSET', bucket, 'e', string.format('%.0f', math.max(e, until_ms)))
  end
  if e < until_ms then
    local u = string.format('%.0f', until_ms)
    redis.call('HSET', bucket, 'e', u)
    redis.call('PEXPIREAT', bucket, u)
  end
  return p
end

-- applied records in the bucket's operation log that the operation op was applied, with
-- its result, so that a replay of it (the client retrying after a dropped connection)
-- answers the result instead of applying it again. The log of a window is one hash
-- whose expiry each write pushes to ttl ms later (relative: Redis's clock, not the
-- app's, decides), so an entry lives at least ttl: no per-session memory, nothing to
-- sweep.
-- A log key that holds something else (a wrong type) costs its window exactly-once, never a
-- write: both functions run under pcall.
local function applied(log, op, result, ttl)
  pcall(redis.call, 'HSET', log, op, result)
  pcall(redis.call, 'PEXPIRE', log, ttl)
end

-- replayed returns what an applied operation recorded, or nil.
local function replayed(log, op)
  local ok, done = pcall(redis.call, 'HGET', log, op)
  if ok and done then return done end
  return nil
end

local L
local function lib()
  if L then return L end
  L = {}
  -- ms formats a number of milliseconds for a Redis argument, without exponent.
  local function ms(x) return string.format('%.0f', x) end
  L.ms = ms
  function L.pack_meta(c, t, i, d, s)
    return struct.pack(META, 1, c, t - c, i, d - c, s)
  end
  local function slot_of(x) return math.ceil(x / SLOT) end

  -- count_remove: a session expiring at exp leaves the count (unless already subtracted).
  function L.count_remove(bucket, exp)
    local p = tonumber(redis.call('HGET', bucket, 'p'))
    local s = slot_of(exp)
    if not p or s <= p then return end
    local f = ms(s)
    if redis.call('HINCRBY', bucket, f, -1) <= 0 then redis.call('HDEL', bucket, f) end
    redis.call('HINCRBY', bucket, 'n', -1)
  end

  -- count_move: a session's expiry moved from old to new. Most touches stay in the
  -- same slot and cost nothing here.
  function L.count_move(bucket, old, new, now)
    if slot_of(old) == slot_of(new) then return end
    L.count_remove(bucket, old)
    count_add(bucket, new, now)
  end

  -- count_prune: subtract the sessions whose slot has passed, visiting at most limit slots
  -- (or every field when the gap is wider than the hash). Returns the live count.
  function L.count_prune(bucket, now, limit)
    local p = tonumber(redis.call('HGET', bucket, 'p'))
    if not p then return 0 end
    local target = math.floor(now / SLOT)
    if target <= p then return tonumber(redis.call('HGET', bucket, 'n') or 0) end
    local gone = 0
    local hlen = redis.call('HLEN', bucket)
    local function drop(from, to)
      for s = from, to do
        local f = ms(s)
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
    redis.call('HSET', bucket, 'p', ms(target))
    if gone == 0 then
      return tonumber(redis.call('HGET', bucket, 'n') or 0)
    end
    return redis.call('HINCRBY', bucket, 'n', string.format('%d', -gone))
  end
  -- count_step: the live count of a count hash whose "p" and "n" the caller read (p a
  -- number, n a number or nil), subtracting the slots from p + 1 to target, a few (up to
  -- STEP_MAX): count_prune's work in three or four calls whatever their number, where
  -- count_prune makes two per slot and four more (every bucket takes a step each time
  -- Count runs after a slot passed: every fifth count at one a second, each at one per
  -- scrape interval).
  function L.count_step(bucket, p, n, target)
    local fields = {}
    for s = p + 1, target do fields[#fields + 1] = ms(s) end
    local cs
    if #fields == 1 then
      cs = {redis.call('HGET', bucket, fields[1])} -- a string costs Lua less than a table
    else
      cs = redis.call('HMGET', bucket, unpack(fields))
    end
    local gone, del = 0, {}
    for i = 1, #fields do
      if cs[i] then
        gone = gone + tonumber(cs[i])
        del[#del + 1] = fields[i]
      end
    end
    n = (n or 0) - gone
    if #del == 0 then
      redis.call('HSET', bucket, 'p', ms(target))
      return n
    end
    redis.call('HDEL', bucket, unpack(del))
    redis.call('HSET', bucket, 'p', ms(target), 'n', string.format('%d', n))
    return n
  end
  return L
end
-- end of prelude
