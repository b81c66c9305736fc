-- Start a request: refuse a finished one, apply the idempotency key, apply backpressure,
-- publish `accepted`.
-- KEYS: final, last, results, pending (set of the account's running request ids) [, idem]
-- ARGV: maxlen, ttl_s, request_id, fingerprint, max_pending (0: no limit), accepted_json,
--       field, value, ...
-- Returns {state, arg}: new | rerun | done | overloaded <count> | conflict <first_id>
--                       | replay <final_json> | wait <first_id>
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'done', ''}
end
local rerun = redis.call('EXISTS', KEYS[2]) == 1
local claim = false
if KEYS[5] then
  local first = redis.call('HMGET', KEYS[5], 'request_id', 'fingerprint', 'final')
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
  redis.call('HSET', KEYS[5], 'request_id', ARGV[3], 'fingerprint', ARGV[4])
  redis.call('EXPIRE', KEYS[5], ARGV[2])
end
redis.call('SADD', KEYS[4], ARGV[3])
redis.call('EXPIRE', KEYS[4], ARGV[2])
local fields = {}
for i = 7, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
redis.call('SET', KEYS[2], ARGV[6], 'EX', ARGV[2])
return {'new', ''}
