-- A worker node's heartbeat, and recovery of requests nobody is running (see recovery.py).
-- KEYS: nodes, owners, ledger, ledger_since, ledger_resends, ledger_due, nodes_beat, nodes_grace,
--       queue, queue, ...
-- ARGV: node, lease_ms, final_prefix, unowned_after_ms, max (0: renew the lease only),
--       expire_margin_ms, last_prefix, request_id to disown, ...
-- Returns {intact, what, request_id, resends, message_json, ...}: intact is 1 when the node was
-- still live (nobody removed it and took its requests over; lease.py), else 0; what is `resend`
-- (send it again) or `expire` (its deadline passed before any worker began it: this node now
-- owns it, to publish its `expired` final).
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000 + math.floor(tonumber(t[2]) / 1000)
local nodes, owners, ledger, since, resends, due = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5],
  KEYS[6]
local lease_ms = tonumber(ARGV[2])
local intact = redis.call('ZSCORE', nodes, ARGV[1]) and 1 or 0
-- Nobody renewed for longer than a lease: Redis was away (or every node was). Give every node a
-- lease's time to renew before any is declared dead: a node that only waited for Redis keeps
-- its work.
local last = tonumber(redis.call('GET', KEYS[7]) or '0')
if last > 0 and now - last > lease_ms then
  redis.call('SET', KEYS[8], '1', 'PX', lease_ms)
end
redis.call('SET', KEYS[7], now)
redis.call('ZADD', nodes, now + lease_ms, ARGV[1])
for i = 8, #ARGV do
  if redis.call('HGET', owners, ARGV[i]) == ARGV[1] then redis.call('HDEL', owners, ARGV[i]) end
end
local out = {intact}
if tonumber(ARGV[5]) == 0 then return out end
local grace = redis.call('EXISTS', KEYS[8]) == 1
local function resend(id)
  local message = redis.call('HGET', ledger, id)
  if not message or redis.call('EXISTS', ARGV[3] .. id) == 1 then
    redis.call('HDEL', ledger, id)
    redis.call('ZREM', since, id)
    redis.call('HDEL', resends, id)
    redis.call('ZREM', due, id)
    return
  end
  redis.call('ZADD', since, now, id)
  out[#out + 1] = 'resend'
  out[#out + 1] = id
  out[#out + 1] = redis.call('HINCRBY', resends, id, 1)
  out[#out + 1] = message
end
-- 1. Requests whose node's lease ran out (or that never had one): theirs to send again. The
--    dead nodes leave the live set in the same step: they are fenced (lease.py).
if not grace then
  local dead = {}
  local owned = redis.call('HGETALL', owners)
  for i = 1, #owned, 2 do
    local id, node = owned[i], owned[i + 1]
    if dead[node] == nil then
      local lease = redis.call('ZSCORE', nodes, node)
      dead[node] = not lease or tonumber(lease) <= now
    end
    if dead[node] then
      redis.call('HDEL', owners, id)
      resend(id)
    end
  end
  redis.call('ZREMRANGEBYSCORE', nodes, '-inf', now)
end
-- 2. Requests still waiting for a worker at their deadline (less the margin, too little to send
--    a cancel in): expire them now, not when a worker gets to them. Taking ownership makes a
--    worker that pops one drop it. One that was ever begun is not `expired` ("never sent"): its
--    node may have sent a cancel before it died; it is sent again (step 1 or 3) and re-run.
local late = redis.call('ZRANGEBYSCORE', due, '-inf', now + tonumber(ARGV[6]),
                        'LIMIT', 0, tonumber(ARGV[5]))
for _, id in ipairs(late) do
  redis.call('ZREM', due, id)
  local message = redis.call('HGET', ledger, id)
  if message and redis.call('HEXISTS', owners, id) == 0
     and redis.call('EXISTS', ARGV[3] .. id) == 0 and redis.call('EXISTS', ARGV[7] .. id) == 0 then
    redis.call('HSET', owners, id, ARGV[1])
    out[#out + 1] = 'expire'
    out[#out + 1] = id
    out[#out + 1] = 0
    out[#out + 1] = message
  end
end
-- 3. Requests enqueued long ago that nobody runs, while the queues are empty: the message was
--    lost between the broker's pop and its unacked record, or its producer died. Only when the
--    queues are empty, so that a backlog is never sent twice.
for i = 9, #KEYS do
  if redis.call('LLEN', KEYS[i]) > 0 then return out end
end
local old = redis.call('ZRANGEBYSCORE', since, '-inf', now - tonumber(ARGV[4]),
                       'LIMIT', 0, tonumber(ARGV[5]))
for _, id in ipairs(old) do
  if redis.call('HEXISTS', owners, id) == 1 then
    redis.call('ZADD', since, now, id)  -- running: look again later
  else
    resend(id)
  end
end
return out
