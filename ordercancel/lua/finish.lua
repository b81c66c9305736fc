-- Publish a request's one final event; a second attempt is a no-op (returns 0).
-- The final is kept as the only element of the list KEYS[1], so that waiters can block on it
-- with BLMOVE list list (a rotation: it stays for the next waiter).
-- Either way the request leaves the ledger and its owner is cleared.
-- KEYS: final, last, results, pending, owners, ledger, ledger_since, ledger_resends, ledger_due
--       [, idem]
-- ARGV: maxlen, ttl_s, request_id, final_json, field, value, ...
redis.call('HDEL', KEYS[5], ARGV[3])
redis.call('HDEL', KEYS[6], ARGV[3])
redis.call('ZREM', KEYS[7], ARGV[3])
redis.call('HDEL', KEYS[8], ARGV[3])
redis.call('ZREM', KEYS[9], ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('RPUSH', KEYS[1], ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[3])
local fields = {}
for i = 5, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
if KEYS[10] and redis.call('HGET', KEYS[10], 'request_id') == ARGV[3] then
  redis.call('HSET', KEYS[10], 'final', ARGV[4])
end
return 1
