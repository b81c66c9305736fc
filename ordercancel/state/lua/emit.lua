-- Publish a non-final event, unless the request has already ended.
-- KEYS: final, last, results    ARGV: maxlen, ttl_s, event_json, field, value, ...
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
local fields = {}
for i = 4, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
redis.call('SET', KEYS[2], ARGV[3], 'EX', ARGV[2])
return 1
