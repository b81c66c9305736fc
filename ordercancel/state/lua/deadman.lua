-- The dead-man switch, one hash KEYS[1], on the Redis server's clock.
-- ARGV[1] = op:
--   arm   ARGV[2]=timeout_ms ARGV[3]=accounts (comma-separated) -> armed_ms
--   beat                                                -> 1, or 0 when not armed
--   check                                               -> {} or the hash as a flat list (claims firing)
--   sent  ARGV[2]=request_id                            -> 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = ARGV[1]
if op == 'arm' then
  redis.call('DEL', KEYS[1])
  redis.call('HSET', KEYS[1], 'state', 'armed', 'timeout_ms', ARGV[2], 'accounts', ARGV[3],
             'armed_ms', now, 'expires_ms', now + tonumber(ARGV[2]))
  return now
end
local state = redis.call('HGET', KEYS[1], 'state')
if op == 'beat' then
  if state ~= 'armed' then return 0 end
  local timeout = tonumber(redis.call('HGET', KEYS[1], 'timeout_ms'))
  redis.call('HSET', KEYS[1], 'expires_ms', now + timeout, 'beat_ms', now)
  return 1
end
if op == 'check' then
  local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_ms') or '0')
  local fired = tonumber(redis.call('HGET', KEYS[1], 'fired_ms') or '0')
  -- a watcher that claimed the firing but died before sending the kill: fire again after 2 s
  if (state == 'armed' and now > expires) or (state == 'fired' and now > fired + 2000) then
    redis.call('HSET', KEYS[1], 'state', 'fired', 'fired_ms', now)
    return redis.call('HGETALL', KEYS[1])
  end
  return {}
end
if op == 'sent' then
  if state == 'fired' then
    redis.call('HSET', KEYS[1], 'state', 'sent', 'request_id', ARGV[2])
  end
  return 1
end
return redis.error_reply('unknown op')
