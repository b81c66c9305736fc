-- One scope's rate budget (see budget.py), on the Redis server's clock. A window is a list of
-- call times, newest first: room for a call while fewer than `limit` fall inside the window.
-- KEYS: window, routine window, hold
-- ARGV: op, window_ms, limit, routine_limit (0: urgent, no routine token)
--   take: {0, 0} taken; {1, ms} the scope is held that long (Retry-After); {2, ms} no room for
--         that long
--   burn: take half of what the window has left (a 429 without Retry-After); returns it
--   hold: hold the scope ARGV[5] ms (a Retry-After); never shortens a hold
--   restore: count ARGV[5] calls now, in both windows (tokens a failover may have lost)
--   left: calls the window has room for
local op, window = ARGV[1], tonumber(ARGV[2])
local limit, routine = tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)

local function forget_old(key)  -- the oldest times are at the tail
  while true do
    local oldest = redis.call('LINDEX', key, -1)
    if not oldest or tonumber(oldest) > now - window then return end
    redis.call('RPOP', key)
  end
end

local function wait_for(key, cap)  -- ms until the window has room (0: now)
  local nth = redis.call('LINDEX', key, cap - 1)
  if not nth then return 0 end
  return math.max(0, tonumber(nth) + window - now)
end

local function push(key, cap, n)
  for i = 1, n, 1000 do
    local times = {}
    for _ = i, math.min(n, i + 999) do times[#times + 1] = now end
    redis.call('LPUSH', key, unpack(times))
  end
  redis.call('LTRIM', key, 0, cap - 1)
  forget_old(key)
  redis.call('PEXPIRE', key, window)
end

local function left()
  forget_old(KEYS[1])
  return math.max(0, limit - redis.call('LLEN', KEYS[1]))
end

if op == 'take' then
  local held = redis.call('PTTL', KEYS[3])
  if held > 0 then return {1, held} end
  local wait = wait_for(KEYS[1], limit)
  if routine > 0 then wait = math.max(wait, wait_for(KEYS[2], routine)) end
  if wait > 0 then return {2, wait} end
  push(KEYS[1], limit, 1)
  if routine > 0 then push(KEYS[2], routine, 1) end
  return {0, 0}
elseif op == 'burn' then
  local burn = math.min(math.floor(left() / 2), 10000)
  if burn > 0 then push(KEYS[1], limit, burn) end
  return burn
elseif op == 'hold' then
  if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[5]) then
    redis.call('SET', KEYS[3], '1', 'PX', ARGV[5])
  end
  return 1
elseif op == 'restore' then
  push(KEYS[1], limit, tonumber(ARGV[5]))
  push(KEYS[2], routine, tonumber(ARGV[5]))
  return 1
elseif op == 'left' then
  return left()
end
return redis.error_reply('unknown op ' .. op)
