-- Start a request: refuse a finished one, claim its idempotency key, publish `accepted`.
-- KEYS: final, last, results [, idem]
-- ARGV: maxlen, ttl_s, request_id, fingerprint, accepted_json, field, value, ...
-- Returns {state, arg}: new | rerun | done | conflict | replay <final_json> | wait <first_id>
if redis.call('EXISTS', KEYS[1]) == 1 then
  return {'done', ''}
end
local rerun = redis.call('EXISTS', KEYS[2]) == 1
if KEYS[4] then
  local first = redis.call('HMGET', KEYS[4], 'request_id', 'fingerprint', 'final')
  if not first[1] then
    redis.call('HSET', KEYS[4], 'request_id', ARGV[3], 'fingerprint', ARGV[4])
    redis.call('EXPIRE', KEYS[4], ARGV[2])
  elseif first[1] ~= ARGV[3] then
    if first[2] ~= ARGV[4] then return {'conflict', first[1]} end
    if first[3] then return {'replay', first[3]} end
    return {'wait', first[1]}
  end
end
if rerun then
  return {'rerun', ''}
end
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
redis.call('SET', KEYS[2], ARGV[5], 'EX', ARGV[2])
return {'new', ''}
