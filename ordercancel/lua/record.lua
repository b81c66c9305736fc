-- Record an enqueued request in the ledger, which recovery reads (see recovery.py).
-- KEYS: ledger, ledger_since   ARGV: request_id, message_json
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
return now
