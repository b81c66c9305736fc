-- The dead-man switch, one hash KEYS[1], on the Redis server's clock.
-- Producers arm and beat it with HSET alone (no DEL, no HDEL: their ACL role lacks them, so a
-- producer cannot disarm it); the workers' watchers check it; an operator disarms it (DEL).
-- ARGV[1] = op:
--   arm   ARGV[2]=timeout_ms ARGV[3]=accounts (comma-separated) ARGV[4]=requested_by -> armed_ms
--   beat                                                -> 1, or 0 when not armed
--   check -> {} when there is nothing to do, else {new_arm, fire, field, value, ...}: new_arm
--            '1' the first time a watcher sees this arming (to audit it), fire '1' when it
--            claims the firing
--   sent  ARGV[2]=request_id                            -> 1
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local op = ARGV[1]
if op == 'arm' then
  redis.call('HSET', KEYS[1], 'state', 'armed', 'timeout_ms', ARGV[2], 'accounts', ARGV[3],
             'armed_ms', now, 'expires_ms', now + tonumber(ARGV[2]), 'requested_by', ARGV[4],
             'beat_ms', now, 'fired_ms', '', 'request_id', '', 'audited_ms', '')
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
  if not state then return {} end
  local armed = redis.call('HGET', KEYS[1], 'armed_ms')
  local new_arm = redis.call('HGET', KEYS[1], 'audited_ms') ~= armed
  if new_arm then redis.call('HSET', KEYS[1], 'audited_ms', armed) end
  local expires = tonumber(redis.call('HGET', KEYS[1], 'expires_ms') or '') or 0
  local fired = tonumber(redis.call('HGET', KEYS[1], 'fired_ms') or '') or 0
  -- a watcher that claimed the firing but died before sending the kill: fire again after 2 s
  local fire = (state == 'armed' and now > expires) or (state == 'fired' and now > fired + 2000)
  if fire then redis.call('HSET', KEYS[1], 'state', 'fired', 'fired_ms', now) end
  if not (new_arm or fire) then return {} end
  local reply = redis.call('HGETALL', KEYS[1])
  table.insert(reply, 1, fire and '1' or '0')
  table.insert(reply, 1, new_arm and '1' or '0')
  return reply
end
if op == 'sent' then
  if state == 'fired' then
    redis.call('HSET', KEYS[1], 'state', 'sent', 'request_id', ARGV[2])
  end
  return 1
end
return redis.error_reply('unknown op')
