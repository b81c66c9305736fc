-- The rate budget's moving window (see budget.py), on the Redis server's clock: a window is a
-- list of call times, newest first, with room for a call while fewer than `limit` fall inside.
-- Shared by budget.lua and begin.lua (which takes a single cancel's token as it begins it).
local function now_ms()
  local t = redis.call('TIME')
  return tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
end

local function forget_old(key, window, now)  -- the oldest times are at the tail
  while true do
    local oldest = redis.call('LINDEX', key, -1)
    if not oldest or tonumber(oldest) > now - window then return end
    redis.call('RPOP', key)
  end
end

local function wait_for(key, cap, window, now)  -- ms until the window has room (0: now)
  local nth = redis.call('LINDEX', key, cap - 1)
  if not nth then return 0 end
  return math.max(0, tonumber(nth) + window - now)
end

local function push(key, cap, n, window, now)
  for i = 1, n, 1000 do
    local times = {}
    for _ = i, math.min(n, i + 999) do times[#times + 1] = now end
    redis.call('LPUSH', key, unpack(times))
  end
  redis.call('LTRIM', key, 0, cap - 1)
  forget_old(key, window, now)
  redis.call('PEXPIRE', key, window)
end

-- keys: window, routine window, hold; routine: the routine window's limit (0: urgent work,
-- no routine token). {0, 0} taken; {1, ms} the scope is held that long (a Retry-After);
-- {2, ms} no room for that long
local function take(keys, window, limit, routine, now)
  local held = redis.call('PTTL', keys[3])
  if held > 0 then return {1, held} end
  local wait = wait_for(keys[1], limit, window, now)
  if routine > 0 then wait = math.max(wait, wait_for(keys[2], routine, window, now)) end
  if wait > 0 then return {2, wait} end
  push(keys[1], limit, 1, window, now)
  if routine > 0 then push(keys[2], routine, 1, window, now) end
  return {0, 0}
end
