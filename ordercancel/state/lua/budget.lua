-- One scope's rate budget (see budget.py); the window's functions are in budget_lib.lua.
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
local now = now_ms()

local function left()
  forget_old(KEYS[1], window, now)
  return math.max(0, limit - redis.call('LLEN', KEYS[1]))
end

if op == 'take' then
  return take(KEYS, window, limit, routine, now)
elseif op == 'burn' then
  local burn = math.min(math.floor(left() / 2), 10000)
  if burn > 0 then push(KEYS[1], limit, burn, window, now) end
  return burn
elseif op == 'hold' then
  if redis.call('PTTL', KEYS[3]) < tonumber(ARGV[5]) then
    redis.call('SET', KEYS[3], '1', 'PX', ARGV[5])
  end
  return 1
elseif op == 'restore' then
  push(KEYS[1], limit, tonumber(ARGV[5]), window, now)
  push(KEYS[2], routine, tonumber(ARGV[5]), window, now)
  return 1
elseif op == 'left' then
  return left()
end
return redis.error_reply('unknown op ' .. op)
