-- Record an enqueued request in the ledger, which recovery reads (see recovery.py).
-- A request id already in the ledger for another intake entry is not overwritten (returns 0):
-- that entry is a duplicate of it (a producer's retry), or another producer reusing its id.
-- KEYS: ledger, ledger_since, ledger_due
-- ARGV: request_id, message_json, deadline_ms (0: none), intake entry id ('' for none)
local old = redis.call('HGET', KEYS[1], ARGV[1])
if old and ARGV[4] ~= '' then
  local ok, message = pcall(cjson.decode, old)
  local entry = ok and type(message) == 'table' and message['_entry_id']
  if type(entry) == 'string' and entry ~= ARGV[4] then return 0 end
end
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
redis.call('HSET', KEYS[1], ARGV[1], ARGV[2])
redis.call('ZADD', KEYS[2], now, ARGV[1])
if tonumber(ARGV[3]) > 0 then redis.call('ZADD', KEYS[3], ARGV[3], ARGV[1]) end
return now
