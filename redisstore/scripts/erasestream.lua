-- erasestream.lua: finish rewriting the event stream without one user's entries.
-- KEYS[1]  the event stream
-- KEYS[2]  its copy so far (same slot): every entry up to ARGV[1] but the user's
-- ARGV[1]  the last ID copied
-- ARGV[2]  the user whose entries are left out
-- Returns  how many of the user's entries were published after ARGV[1]
-- The entries published since ARGV[1] are copied (few: those of the last moments), the
-- copy takes the stream's last ID (so that new IDs keep growing from it) and replaces
-- the stream. A copy that got no entry at all does not exist: the stream is then trimmed
-- to nothing instead, which frees its entries and keeps its last ID.
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('DEL', KEYS[2])
  return 0
end
local erased = 0
local newer = redis.call('XRANGE', KEYS[1], '(' .. ARGV[1], '+')
for _, e in ipairs(newer) do
  local f, user = e[2], nil
  for i = 1, #f, 2 do
    if f[i] == 'u' then user = f[i + 1] end
  end
  if user == ARGV[2] then
    erased = erased + 1
  else
    redis.call('XADD', KEYS[2], e[1], unpack(f))
  end
end
local info = redis.call('XINFO', 'STREAM', KEYS[1])
local last
for i = 1, #info, 2 do
  if info[i] == 'last-generated-id' then last = info[i + 1] end
end
if redis.call('EXISTS', KEYS[2]) == 0 then
  redis.call('XTRIM', KEYS[1], 'MAXLEN', 0)
  return erased
end
redis.call('XSETID', KEYS[2], last)
redis.call('RENAME', KEYS[2], KEYS[1])
return erased
