-- Send requests on: record each in the ledger (which recovery reads, see recovery.py), then,
-- when every one is new, push their broker messages and acknowledge their intake entries. One
-- atomic step, so a replica has all of it or none: an entry is never acknowledged without its
-- ledger records, nor a message queued for a request the ledger lacks.
-- A request id already in the ledger for another intake entry is not overwritten (its flag is
-- 0): that entry is a duplicate of it (a producer's retry), or another producer reusing its id.
-- Then nothing is pushed nor acknowledged: the caller sends the new ones' messages itself.
-- KEYS: ledger, ledger_since, ledger_due, intake stream, queue, ...
-- ARGV: intake group, n requests, n messages, n entries, then per request: request_id,
--       message_json, deadline_ms (0: none), intake entry id ('' for none); per message: the
--       index of its queue in KEYS (5, ...), the message; then the entry ids to acknowledge
-- Returns {1 if pushed and acknowledged else 0, flag, ...} (flag: when recorded, 0 if not)
local n, m, e = tonumber(ARGV[2]), tonumber(ARGV[3]), tonumber(ARGV[4])
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local out, all_new = {0}, true
for i = 0, n - 1 do
  local id, message, due, entry = ARGV[5 + 4 * i], ARGV[6 + 4 * i], ARGV[7 + 4 * i], ARGV[8 + 4 * i]
  local new = true
  local old = redis.call('HGET', KEYS[1], id)
  if old and entry ~= '' then
    local ok, first = pcall(cjson.decode, old)
    local first_entry = ok and type(first) == 'table' and first['_entry_id']
    if type(first_entry) == 'string' and first_entry ~= entry then new = false end
  end
  if new then
    redis.call('HSET', KEYS[1], id, message)
    redis.call('ZADD', KEYS[2], now, id)
    if tonumber(due) > 0 then redis.call('ZADD', KEYS[3], due, id) end
    out[#out + 1] = now
  else
    out[#out + 1] = 0
    all_new = false
  end
end
if not all_new then return out end
local at = 5 + 4 * n
for j = 0, m - 1 do
  redis.call('LPUSH', KEYS[tonumber(ARGV[at + 2 * j])], ARGV[at + 2 * j + 1])
end
at = at + 2 * m
if e > 0 then
  local entries = {}
  for j = 0, e - 1 do entries[#entries + 1] = ARGV[at + j] end
  redis.call('XACK', KEYS[4], ARGV[1], unpack(entries))
end
out[1] = 1
return out
