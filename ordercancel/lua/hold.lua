-- Hold a rate-budget scope for ARGV[1] ms (a venue's Retry-After); never shortens a hold.
-- KEYS: hold
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', ARGV[1])
end
return 1
