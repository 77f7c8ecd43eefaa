-- commit.lua: apply one request's delta to a live session, atomically: all of it or none.
-- KEYS[1]   session key
-- KEYS[2]   its bucket's count hash
-- ARGV[1]   now, Unix milliseconds
-- ARGV[2]   maximum size in bytes (names plus values), 0 for none
-- ARGV[3]   number of expectations E
-- ARGV[4]   number of values to set S
-- ARGV[5]   number of values to delete D
-- ARGV[6]   '1' to increment a value, else '0'; ARGV[7] its name, ARGV[8] the amount
-- ARGV[9]   '1' to bind the session to the user in ARGV[10] ('' unbinds), else '0'
-- ARGV[11]  new idle timeout in milliseconds, or ''
-- ARGV[12]  new absolute deadline, Unix milliseconds, or ''
-- ARGV[13…] E triples (name, '1' present / '0' absent, value), S pairs (name, value), D names
-- Returns   {'OK', incremented value or '', previous user or ''}
--           {'NOTFOUND'}: no live session; nothing is ever created here
--           {'MOVED'}: take.lua moved the session to a new ID moments ago
--           {'CONFLICT', name, '1'|'0', value, …}: an expectation failed; current values
--           {'TOOLARGE', size}: the session would exceed the maximum size
--           {'NOTINT'}: the value to increment is not a canonical integer, or overflows
-- Error     "CORRUPT …" when the metadata cannot be read.
local key = KEYS[1]
local r = redis.call('HMGET', key, '@', '@u', '@m')
if r[3] then
  if tonumber(ARGV[1]) < tonumber(r[3]) then return {'MOVED'} end
  return {'NOTFOUND'}
end
if not r[1] then
  if redis.call('EXISTS', key) == 0 then
    return {'NOTFOUND'}
  end
  return redis.error_reply('CORRUPT session metadata is missing')
end
local m = meta_parse(r[1])
if m.err then return m end
local now = tonumber(ARGV[1])
local oldexp = expires(m)
if now >= oldexp then
  return {'NOTFOUND'}
end
local size = m.s

local nexp, nset, ndel = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local i = 13

-- 1. Expectations.
local ok = true
local current = {'CONFLICT'}
for _ = 1, nexp do
  local name, present, want = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local cur = redis.call('HGET', key, name)
  if present == '1' then
    if cur ~= want then ok = false end
  elseif cur then
    ok = false
  end
  current[#current + 1] = name
  current[#current + 1] = cur and '1' or '0'
  current[#current + 1] = cur or ''
  i = i + 3
end
if not ok then
  return current
end

-- 2. Sizes of the sets and deletes (the incremented value is counted apart).
local incr = ARGV[6] == '1'
local iname = ARGV[7]
local function stored(name)
  if redis.call('HEXISTS', key, name) == 1 then
    return #name + redis.call('HSTRLEN', key, name)
  end
  return 0
end
local newsize = size
local sets = {}
local iset
for _ = 1, nset do
  local name, value = ARGV[i], ARGV[i + 1]
  if incr and name == iname then
    iset = value
  else
    newsize = newsize - stored(name) + #name + #value
    sets[#sets + 1] = name
    sets[#sets + 1] = value
  end
  i = i + 2
end
local dels = {}
local idel = false
for _ = 1, ndel do
  local name = ARGV[i]
  if incr and name == iname then
    idel = true
  else
    newsize = newsize - stored(name)
    dels[#dels + 1] = name
  end
  i = i + 1
end

-- 3. The increment, first of all writes so that a failure leaves nothing behind.
local result = ''
if incr then
  local before = redis.call('HGET', key, iname)
  local base = iset or (not idel and before) or nil
  if base and not (base == '0' or string.match(base, '^-?[1-9]%d*$')) then
    return {'NOTINT'}
  end
  if iset then
    redis.call('HSET', key, iname, iset)
  elseif idel then
    redis.call('HDEL', key, iname)
  end
  local r = redis.pcall('HINCRBY', key, iname, ARGV[8])
  if type(r) == 'table' and r.err then
    if before then redis.call('HSET', key, iname, before) else redis.call('HDEL', key, iname) end
    return {'NOTINT'}
  end
  result = tostring(r)
  if before then newsize = newsize - #iname - #before end
  newsize = newsize + #iname + #result
  local max = tonumber(ARGV[2])
  if max > 0 and newsize > max and newsize > size then
    if before then redis.call('HSET', key, iname, before) else redis.call('HDEL', key, iname) end
    return {'TOOLARGE', tostring(newsize)}
  end
else
  local max = tonumber(ARGV[2])
  if max > 0 and newsize > max and newsize > size then
    return {'TOOLARGE', tostring(newsize)}
  end
end

-- 4. Everything else.
for j = 1, #dels, 200 do
  redis.call('HDEL', key, unpack(dels, j, math.min(j + 199, #dels)))
end
for j = 1, #sets, 200 do
  redis.call('HSET', key, unpack(sets, j, math.min(j + 199, #sets)))
end
if ARGV[11] ~= '' then m.i = tonumber(ARGV[11]) end
if ARGV[12] ~= '' then m.d = tonumber(ARGV[12]) end
m.t, m.s = now, newsize
local prev = r[2] or ''
if ARGV[9] == '1' then
  if ARGV[10] == '' then redis.call('HDEL', key, '@u') else redis.call('HSET', key, '@u', ARGV[10]) end
end
local exp = expires(m)
if now >= exp then
  count_remove(KEYS[2], oldexp)
  redis.call('DEL', key) -- the new deadline is already past: never keep a key without a future
  return {'OK', result, prev}
end
redis.call('HSET', key, '@', meta_format(m))
redis.call('PEXPIREAT', key, string.format('%.0f', exp))
count_move(KEYS[2], oldexp, exp, now)
return {'OK', result, prev}
