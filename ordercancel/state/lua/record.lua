-- Record an enqueued request in the ledger, which recovery reads (see recovery.py).
-- KEYS: ledger, ledger_since, ledger_due   ARGV: request_id, message_json, deadline_ms (0: none)
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
if tonumber(ARGV[3]) > 0 then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1]) end
return now
