-- Start a request: refuse a finished one or one a live node is running, take ownership, apply
-- the idempotency key, apply backpressure, publish `accepted`.
-- A request whose owner's lease ran out is taken over, and the owner is removed from the live
-- nodes (lease.py: it is fenced); not during the grace after an outage (lua/beat.lua).
-- A new request may also take its first call's rate token here (a single cancel: one round
-- trip fewer), when ARGV[8] is 3: its budget's keys follow the first seven (budget_lib.lua).
-- KEYS: final, last, results, pending (set of the account's running request ids), owners,
--       nodes, nodes_grace [, window, routine window, hold] [, idem]
-- ARGV: maxlen, ttl_s, request_id, fingerprint, max_pending (0: no limit), accepted_json, node,
--       budget keys (0 or 3), window_ms, limit, routine limit, field, value, ...
-- Returns {state, arg}: new ('token' when it took one, else '') | rerun | done
--                       | running <node> | overloaded <count> | conflict <first_id>
--                       | replay <final_json> | wait <first_id>
local budget = tonumber(ARGV[8])
local idem = KEYS[8 + budget]
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'done', ''}
end
local owner = redis.call('HGET', KEYS[5], ARGV[3])
if owner and owner ~= ARGV[7] then
  local lease = redis.call('ZSCORE', KEYS[6], owner)
  local t = redis.call('TIME')
  local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
  if lease and (tonumber(lease) > now or redis.call('EXISTS', KEYS[7]) == 1) then
    return {'running', owner}
  end
  redis.call('ZREM', KEYS[6], owner)
end
redis.call('HSET', KEYS[5], ARGV[3], ARGV[7])
local rerun = redis.call('EXISTS', KEYS[2]) == 1
local claim = false
if idem then
  local first = redis.call('HMGET', idem, 'request_id', 'fingerprint', 'final')
  if not first[1] then
    claim = true
  elseif first[1] ~= ARGV[3] then
    if first[2] ~= ARGV[4] then return {'conflict', first[1]} end
    if first[3] then return {'replay', first[3]} end
    return {'wait', first[1]}
  end
end
if rerun then
  return {'rerun', ''}
end
local limit = tonumber(ARGV[5])
if limit > 0 then
  local pending = redis.call('SCARD', KEYS[4])
  if pending >= limit then return {'overloaded', tostring(pending)} end
end
if claim then
  redis.call('HSET', idem, 'request_id', ARGV[3], 'fingerprint', ARGV[4])
  redis.call('EXPIRE', idem, ARGV[2])
end
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[2])
local fields = {}
for i = 12, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
redis.call('SET', KEYS[2], ARGV[6], 'EX', ARGV[2])
if budget == 3 then
  local window, limit, routine = tonumber(ARGV[9]), tonumber(ARGV[10]), tonumber(ARGV[11])
  local token = take({KEYS[8], KEYS[9], KEYS[10]}, window, limit, routine, now_ms())
  if token[1] == 0 then return {'new', 'token'} end
end
return {'new', ''}
