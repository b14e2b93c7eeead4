package shared

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/gofiber/storage/redis/v3"
	goredis "github.com/redis/go-redis/v9"
)

// Redis is the Store shared by every instance: Fiber's Redis storage, and a Lua
// script for each compound operation (Redis runs a script as one command, so no
// other instance sees or changes anything half way).
type Redis struct {
	*redis.Storage
	client goredis.UniversalClient
	// timeout bounds each operation, on top of the client's own timeouts.
	timeout time.Duration
}

var _ Store = (*Redis)(nil)

// NewRedis wraps a connected client. timeout bounds every compound operation.
func NewRedis(client goredis.UniversalClient, timeout time.Duration) *Redis {
	return &Redis{Storage: redis.NewFromConnection(client), client: client, timeout: timeout}
}

func (r *Redis) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), r.timeout)
}

func ms(d time.Duration) int64 { return max(d.Milliseconds(), 1) }

// countScript: INCR, and start the window on the first count. A counter left
// without a TTL (it cannot happen through this script, but a crash between two
// commands of a non-atomic client could) gets one, so it never blocks forever.
var countScript = goredis.NewScript(`
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
local left = redis.call('PTTL', KEYS[1])
if left < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[1]); left = tonumber(ARGV[1]) end
return {n, left}`)

func (r *Redis) Count(key string, window time.Duration) (int64, time.Duration, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	res, err := countScript.Run(ctx, r.client, []string{key}, ms(window)).Int64Slice()
	if err != nil {
		return 0, 0, err
	}
	if len(res) != 2 {
		return 0, 0, fmt.Errorf("shared: count: unexpected reply %v", res)
	}
	return res[0], time.Duration(res[1]) * time.Millisecond, nil
}

var raiseScript = goredis.NewScript(`
local cur = tonumber(redis.call('GET', KEYS[1]))
local v = tonumber(ARGV[1])
if cur ~= nil and cur >= v then return cur end
redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
return v`)

func (r *Redis) Raise(key string, v int64, ttl time.Duration) (int64, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	return raiseScript.Run(ctx, r.client, []string{key}, v, ms(ttl)).Int64()
}

func (r *Redis) Replace(key string, val []byte, ttl time.Duration) (bool, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	return r.client.SetXX(ctx, key, val, ttl).Result()
}

func (r *Redis) Claim(key string, ttl time.Duration) (bool, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	return r.client.SetNX(ctx, key, []byte{1}, ttl).Result()
}

func (r *Redis) GetMany(keys ...string) ([][]byte, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	vals, err := r.client.MGet(ctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	out := make([][]byte, len(vals))
	for i, v := range vals {
		if s, ok := v.(string); ok {
			out[i] = []byte(s)
		}
	}
	return out, nil
}

// beginScript: KEYS failures, in-flight; ARGV now_ms, lease_ms, max, id.
// Replies {0} admitted, {1, ms_left} blocked, {2} busy.
var beginScript = goredis.NewScript(`
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', ARGV[1])
local failed = tonumber(redis.call('GET', KEYS[1]) or '0')
local max = tonumber(ARGV[3])
if failed >= max then return {1, redis.call('PTTL', KEYS[1])} end
if failed + redis.call('ZCARD', KEYS[2]) >= max then return {2, 0} end
redis.call('ZADD', KEYS[2], tonumber(ARGV[1]) + tonumber(ARGV[2]), ARGV[4])
redis.call('PEXPIRE', KEYS[2], ARGV[2])
return {0, 0}`)

func (r *Redis) BeginAttempt(a Attempt) (AttemptResult, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	res, err := beginScript.Run(ctx, r.client, []string{a.Failures, a.InFlight},
		a.Now.UnixMilli(), ms(a.Lease), a.Max, a.ID).Int64Slice()
	if err != nil {
		return AttemptResult{}, err
	}
	if len(res) != 2 {
		return AttemptResult{}, fmt.Errorf("shared: begin attempt: unexpected reply %v", res)
	}
	switch res[0] {
	case 0:
		return AttemptResult{Outcome: Admitted}, nil
	case 1:
		return AttemptResult{Outcome: Blocked, RetryAfter: time.Duration(max(res[1], 0)) * time.Millisecond}, nil
	}
	return AttemptResult{Outcome: Busy}, nil
}

// endScript: KEYS failures, in-flight; ARGV id, failed (0/1), window_ms.
var endScript = goredis.NewScript(`
redis.call('ZREM', KEYS[2], ARGV[1])
if ARGV[2] == '1' then
  local n = redis.call('INCR', KEYS[1])
  if n == 1 or redis.call('PTTL', KEYS[1]) < 0 then redis.call('PEXPIRE', KEYS[1], ARGV[3]) end
end
return 0`)

func (r *Redis) EndAttempt(a Attempt, failed bool) error {
	ctx, cancel := r.ctx()
	defer cancel()
	f := 0
	if failed {
		f = 1
	}
	return endScript.Run(ctx, r.client, []string{a.Failures, a.InFlight}, a.ID, f, ms(a.Window)).Err()
}

func (r *Redis) Failures(a Attempt) (int64, time.Duration, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	pipe := r.client.Pipeline()
	get := pipe.Get(ctx, a.Failures)
	left := pipe.PTTL(ctx, a.Failures)
	if _, err := pipe.Exec(ctx); err != nil && !errors.Is(err, goredis.Nil) {
		return 0, 0, err
	}
	n, err := get.Int64()
	if errors.Is(err, goredis.Nil) {
		return 0, 0, nil
	}
	if err != nil {
		return 0, 0, err
	}
	return n, max(left.Val(), 0), nil
}

// addToIndexScript: KEYS index; ARGV member, at_us, limit, ttl_ms. The members are
// keys themselves (session IDs): one that no longer exists is dropped, and the
// oldest beyond limit are deleted. The newest member always sorts last, even when
// clocks tie or disagree. (This reads keys it was not given in KEYS,
// which a single Redis allows; Redis Cluster would not.)
var addToIndexScript = goredis.NewScript(`
local at = tonumber(ARGV[2])
local top = redis.call('ZRANGE', KEYS[1], -1, -1, 'WITHSCORES')
if top[2] ~= nil and top[1] ~= ARGV[1] and tonumber(top[2]) >= at then at = tonumber(top[2]) + 1 end
redis.call('ZADD', KEYS[1], at, ARGV[1])
for _, m in ipairs(redis.call('ZRANGE', KEYS[1], 0, -1)) do
  if m ~= ARGV[1] and redis.call('EXISTS', m) == 0 then redis.call('ZREM', KEYS[1], m) end
end
local evicted = {}
local over = redis.call('ZCARD', KEYS[1]) - tonumber(ARGV[3])
if over > 0 then
  evicted = redis.call('ZRANGE', KEYS[1], 0, over - 1)
  for _, m in ipairs(evicted) do
    redis.call('DEL', m)
    redis.call('ZREM', KEYS[1], m)
  end
end
redis.call('PEXPIRE', KEYS[1], ARGV[4])
return evicted`)

func (r *Redis) AddToIndex(key, member string, at time.Time, limit int, ttl time.Duration) ([]string, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	return addToIndexScript.Run(ctx, r.client, []string{key}, member, at.UnixMicro(), limit, ms(ttl)).StringSlice()
}

func (r *Redis) RemoveFromIndex(key string, members ...string) error {
	if len(members) == 0 {
		return nil
	}
	ctx, cancel := r.ctx()
	defer cancel()
	args := make([]any, len(members))
	for i, m := range members {
		args[i] = m
	}
	return r.client.ZRem(ctx, key, args...).Err()
}

func (r *Redis) Index(key string) ([]string, error) {
	ctx, cancel := r.ctx()
	defer cancel()
	return r.client.ZRange(ctx, key, 0, -1).Result()
}
