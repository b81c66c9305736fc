-- Publish a request's one final event; a second attempt is a no-op (returns 0).
-- The final is kept as the only entry of the stream KEYS[1] (field `final`), so that waiters
-- block on it with XREAD, a read: a producer needs no write permission to wait.
-- Either way the request leaves the ledger and its owner is cleared.
-- Fenced (returns -1, changes nothing): the publishing node's lease identity ARGV[5] is no
-- longer among the live nodes (another node took its requests over; lease.py).
-- KEYS: final, last, results, pending, owners, ledger, ledger_since, ledger_resends, ledger_due,
--       nodes [, idem]
-- ARGV: maxlen, ttl_s, request_id, final_json, node ('' for none), field, value, ...
if ARGV[5] ~= '' and not redis.call('ZSCORE', KEYS[10], ARGV[5]) then
  return -1
end
redis.call('HDEL', KEYS[5], ARGV[3])
redis.call('HDEL', KEYS[6], ARGV[3])
redis.call('ZREM', KEYS[7], ARGV[3])
redis.call('HDEL', KEYS[8], ARGV[3])
redis.call('ZREM', KEYS[9], ARGV[3])
if redis.call('EXISTS', KEYS[1]) == 1 then
  return 0
end
redis.call('XADD', KEYS[1], '*', 'final', ARGV[4])
redis.call('EXPIRE', KEYS[1], ARGV[2])
redis.call('DEL', KEYS[2])
redis.call('SREM', KEYS[4], ARGV[3])
local fields = {}
for i = 6, #ARGV do fields[#fields + 1] = ARGV[i] end
redis.call('XADD', KEYS[3], 'MAXLEN', '~', ARGV[1], '*', unpack(fields))
if KEYS[11] and redis.call('HGET', KEYS[11], 'request_id') == ARGV[3] then
  redis.call('HSET', KEYS[11], 'final', ARGV[4])
end
return 1
