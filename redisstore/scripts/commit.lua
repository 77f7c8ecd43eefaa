-- commit.lua: apply one request's delta to a live session, atomically: all of it or none.
-- KEYS[1]   session key
-- KEYS[2]   its bucket's count hash
-- KEYS[3]   its bucket's operation log for the current window (see prelude.lua)
-- ARGV[1]   now, Unix milliseconds
-- ARGV[2]   maximum size in bytes (names plus values), 0 for none
-- ARGV[3]   number of expectations E
-- ARGV[4]   number of values to set S
-- ARGV[5]   number of values to delete D
-- ARGV[6]   '1' to increment a value, else '0'; ARGV[7] its name, ARGV[8] the amount
-- ARGV[9]   '1' to bind the session to the user in ARGV[10] ('' unbinds), else '0'
-- ARGV[11]  new idle timeout in milliseconds, or ''
-- ARGV[12]  new absolute deadline, Unix milliseconds, or ''
-- ARGV[13]  touch after, milliseconds: refresh the idle expiry when now - touched >= this
-- ARGV[14]  the operation's ID; ARGV[15] how long the operation log keeps it, ms
-- ARGV[16…] E triples (name, '1' present / '0' absent, value), S pairs (name, value), D names
-- Returns   {'OK', incremented value or '', previous user or ''} (the value an integer, a
--           decimal string beyond 2^53, as in incr.lua); a replay of an applied
--           operation (same ID) answers {'OK', its recorded value, ''} and changes nothing
--           {'NOTFOUND'}: no live session; nothing is ever created here
--           {'MOVED'}: take.lua moved the session to a new ID moments ago
--           {'CONFLICT', name, '1'|'0', value, …}: an expectation failed; current values
--           {'TOOLARGE', size}: the session would exceed the maximum size
--           {'NOTINT'}: the value to increment is not a canonical integer, or overflows
-- Error     "CORRUPT …" when the metadata cannot be read.
--
-- Lean on purpose: Redis spends most of a script's time in redis.call, so the common
-- commit (an increment, or a few values set) makes two calls: one HMGET for everything
-- it needs to know, one write. The metadata is rewritten only when the size changes or
-- a touch is due, the key's expiry only when a touch is due.
local key = KEYS[1]
local done = replayed(KEYS[3], ARGV[14])
if done then
  return {'OK', done, ''}
end
local now = tonumber(ARGV[1])
local nexp, nset, ndel = tonumber(ARGV[3]), tonumber(ARGV[4]), tonumber(ARGV[5])
local incr = ARGV[6] == '1'
local iname = ARGV[7]

-- 1. One read: metadata, user, moved marker and the current value of every name involved.
local names = {'@', '@u', '@m'}
local i = 16
for _ = 1, nexp do names[#names + 1] = ARGV[i]; i = i + 3 end
for _ = 1, nset do names[#names + 1] = ARGV[i]; i = i + 2 end
for _ = 1, ndel do names[#names + 1] = ARGV[i]; i = i + 1 end
if incr then names[#names + 1] = iname end
local cur = {}
-- HMGET in chunks: unpack() of thousands of arguments overflows Lua's C stack.
for j = 1, #names, 200 do
  local last = math.min(j + 199, #names)
  local r = redis.call('HMGET', key, unpack(names, j, last))
  for k = j, last do cur[names[k]] = r[k - j + 1] end
end

if cur['@m'] then
  if now < tonumber(cur['@m']) then return {'MOVED'} end
  return {'NOTFOUND'}
end
if not cur['@'] then
  if redis.call('EXISTS', key) == 0 then
    return {'NOTFOUND'}
  end
  return redis.error_reply('CORRUPT session metadata is missing')
end
local mc, mt, mi, md, ms = meta(cur['@'])
if not mc then return mt end
local oldexp = math.min(mt + mi, md)
if now >= oldexp then
  return {'NOTFOUND'}
end

-- 2. Expectations.
i = 16
local ok = true
local current = {'CONFLICT'}
for _ = 1, nexp do
  local name, present, want = ARGV[i], ARGV[i + 1], ARGV[i + 2]
  local v = cur[name]
  if present == '1' then
    if v ~= want then ok = false end
  elseif v then
    ok = false
  end
  current[#current + 1] = name
  current[#current + 1] = v and '1' or '0'
  current[#current + 1] = v or ''
  i = i + 3
end
if not ok then
  return current
end

-- 3. Sizes of the sets and deletes (the incremented value is counted apart).
local function stored(name)
  local v = cur[name]
  if v then return #name + #v end
  return 0
end
local size = ms
local newsize = size
local sets = {}
local inset = {}
local iset
for _ = 1, nset do
  local name, value = ARGV[i], ARGV[i + 1]
  inset[name] = true
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
  if inset[name] then
    -- set and deleted: set (store.Apply's rule); counted with the sets
  elseif incr and name == iname then
    idel = true
  else
    newsize = newsize - stored(name)
    dels[#dels + 1] = name
    inset[name] = true -- a name deleted twice is counted once
  end
  i = i + 1
end
local max = tonumber(ARGV[2])

-- 4. The increment, first of all writes so that a failure leaves nothing behind.
-- HINCRBY accepts exactly the canonical decimal integers and refuses overflow.
local result = ''
if incr then
  local before = cur[iname]
  local restore = function()
    if before then redis.call('HSET', key, iname, before) else redis.call('HDEL', key, iname) end
  end
  local touched = false
  if iset then
    redis.call('HSET', key, iname, iset)
    touched = true
  elseif idel and before then
    redis.call('HDEL', key, iname)
    touched = true
  end
  local r = redis.pcall('HINCRBY', key, iname, ARGV[8])
  if type(r) == 'table' and r.err then
    if touched then restore() end
    if string.find(r.err, 'not an integer', 1, true) or string.find(r.err, 'overflow', 1, true) then
      return {'NOTINT'}
    end
    return r -- OOM when Redis is full, for one: the error it is
  end
  -- An integer, as incr.lua answers; Lua numbers are doubles, so beyond 2^53 the
  -- exact value read back, as a decimal string.
  local digits
  if r > -9007199254740992 and r < 9007199254740992 then
    result, digits = r, string.format('%d', r)
  else
    result = redis.call('HGET', key, iname)
    digits = result
  end
  newsize = newsize - stored(iname) + #iname + #digits
  if max > 0 and newsize > max and newsize > size then
    restore()
    return {'TOOLARGE', tostring(newsize)}
  end
elseif max > 0 and newsize > max and newsize > size then
  return {'TOOLARGE', tostring(newsize)}
end

-- 5. Everything else.
local touch = ARGV[11] ~= '' or ARGV[12] ~= '' or now - mt >= tonumber(ARGV[13])
if ARGV[11] ~= '' then mi = tonumber(ARGV[11]) end
if ARGV[12] ~= '' then md = tonumber(ARGV[12]) end
if touch then mt = now end
local exp = math.min(mt + mi, md)
if now >= exp then
  pcall(lib().count_remove, KEYS[2], oldexp)
  redis.call('DEL', key) -- the new deadline is already past: never keep a key without a future
  applied(KEYS[3], ARGV[14], result, ARGV[15])
  return {'OK', result, cur['@u'] or ''}
end
if ARGV[9] == '1' then
  if ARGV[10] == '' then
    if cur['@u'] then dels[#dels + 1] = '@u' end
  else
    sets[#sets + 1] = '@u'
    sets[#sets + 1] = ARGV[10]
  end
end
if touch or newsize ~= size then
  sets[#sets + 1] = '@'
  sets[#sets + 1] = lib().pack_meta(mc, mt, mi, md, newsize)
end
for j = 1, #dels, 200 do
  redis.call('HDEL', key, unpack(dels, j, math.min(j + 199, #dels)))
end
for j = 1, #sets, 200 do
  redis.call('HSET', key, unpack(sets, j, math.min(j + 199, #sets)))
end
if touch then
  local L = lib()
  redis.call('PEXPIREAT', key, L.ms(exp))
  pcall(L.count_move, KEYS[2], oldexp, exp, now)
end
applied(KEYS[3], ARGV[14], result, ARGV[15])
return {'OK', result, cur['@u'] or ''}
