-- The dead-man switch: the hash KEYS[1], kept by the workers' watchers alone, on the Redis
-- server's clock. Producers arm it and beat it by XADDing to the stream KEYS[2] (`op` = arm,
-- with timeout_ms, accounts (comma-separated), requested_by; or `op` = beat), the only write
-- their ACL role has here: what an entry says takes effect when a watcher applies it, at the
-- time in its id (Redis's clock). An entry dated more than 1 s ahead of the server (an id a
-- producer chose) is ignored; so are the later ones, dated after it: the switch then fires.
-- An operator disarms it by deleting both keys (store.py).
-- KEYS: switch, beats, audit
-- ARGV[1] = op:
--   check ARGV[2]=audit retention_ms: apply the entries (audit each arming in KEYS[3]), then
--         claim the firing when the switch expired -> {} or the hash as a flat list
--   sent  ARGV[2]=request_id -> 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = ARGV[1]

local function apply(id, fields)
  local f = {}
  for i = 1, #fields, 2 do f[fields[i]] = fields[i + 1] end
  local ms = tonumber(string.match(id, '^(%d+)'))
  if not ms or ms > now + 1000 then return end
  if f.op == 'arm' then
    local timeout = tonumber(f.timeout_ms)
    if not timeout or timeout < 100 or timeout > 86400000 then return end
    local by, accounts = string.sub(f.requested_by or '', 1, 128), f.accounts or ''
    redis.call('HSET', KEYS[1], 'state', 'armed', 'timeout_ms', timeout, 'accounts', accounts,
               'armed_ms', ms, 'expires_ms', ms + timeout, 'beat_ms', ms, 'requested_by', by,
               'fired_ms', '', 'request_id', '')
    local names = {}
    for name in string.gmatch(accounts, '[^,]+') do names[#names + 1] = name end
    redis.call('XADD', KEYS[3], 'MINID', '~', now - tonumber(ARGV[2]), '*', 'event',
               'deadman_arm', 'ts', ms, 'requested_by', by,
               'accounts', #names > 0 and cjson.encode(names) or '[]', 'timeout_ms', timeout,
               'armed_ms', ms)
  elseif f.op == 'beat' and redis.call('HGET', KEYS[1], 'state') == 'armed' then
    local timeout = tonumber(redis.call('HGET', KEYS[1], 'timeout_ms'))
    local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_ms'))
    if ms >= tonumber(redis.call('HGET', KEYS[1], 'armed_ms')) then
      redis.call('HSET', KEYS[1], 'expires_ms', math.max(expires, ms + timeout), 'beat_ms', ms)
    end
  end
end

if op == 'check' then
  local entries = redis.call('XRANGE', KEYS[2], '-', '+', 'COUNT', 1000)
  for _, entry in ipairs(entries) do
    apply(entry[1], entry[2])
    redis.call('XDEL', KEYS[2], entry[1])
  end
  local state = redis.call('HGET', KEYS[1], 'state')
  local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_ms') or '') or 0
  local fired = tonumber(redis.call('HGET', KEYS[1], 'fired_ms') or '') or 0
  -- a watcher that claimed the firing but died before sending the kill: fire again after 2 s
  if (state == 'armed' and now > expires) or (state == 'fired' and now > fired + 2000) then
    redis.call('HSET', KEYS[1], 'state', 'fired', 'fired_ms', now)
    return redis.call('HGETALL', KEYS[1])
  end
  return {}
end
if op == 'sent' then
  if redis.call('HGET', KEYS[1], 'state') == 'fired' then
    redis.call('HSET', KEYS[1], 'state', 'sent', 'request_id', ARGV[2])
  end
  return 1
end
return redis.error_reply('unknown op')
