package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
)

// Leases keeps node liveness leases in Redis, shared by every replica: a
// heartbeat on any replica renews the node's lease, and each lapsed lease
// is handed to exactly one sweeper, so a node goes online once and offline
// once however many replicas hear from it. It implements commands.Leases,
// commands.Claims, commands.OutageAware and commands.SampleGate.
//
// While Redis is unreachable, Renew reports no new lease (the heartbeat is
// still answered), Expire reports none (no node goes offline for the
// outage) and Down is true. The first sweep after a gap of more than half
// a heartbeat timeout without any sweep (an outage, or Redis restarted
// empty) gives every lease a full timeout from then instead of expiring
// it, and Resumed reports it so the monitor re-adopts the nodes the log
// says are online: liveness resumes within one heartbeat timeout.
//
// Lease times come from the replicas' clocks, which must agree to well
// within a heartbeat timeout (NTP).
type Leases struct {
	rdb     *redis.Client
	keys    leaseKeys
	ttl     time.Duration
	timeout time.Duration
	log     *slog.Logger

	down    atomic.Bool
	resumed atomic.Bool
	mu      sync.Mutex
	lastErr error
}

type leaseKeys struct{ leases, claims, seen, swept, sample string }

// NewLeases returns the leases of the cluster opts.Prefix names; ttl is
// the heartbeat timeout (a claimed lease goes back to the sweepers after
// it).
func NewLeases(rdb *redis.Client, opts Options, ttl time.Duration, log *slog.Logger) *Leases {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := opts.Prefix
	return &Leases{rdb: rdb, ttl: ttl, timeout: opts.timeout(), log: log, keys: leaseKeys{
		leases: p + "leases", claims: p + "claims", seen: p + "seen", swept: p + "swept", sample: p + "sample:",
	}}
}

// renewScript: KEYS leases, claims, seen; ARGV node, now, until. Returns 1
// when the node had no live lease (or a sweeper had claimed it).
var renewScript = redis.NewScript(`
local old = redis.call('ZSCORE', KEYS[1], ARGV[1])
local claimed = redis.call('ZREM', KEYS[2], ARGV[1])
redis.call('ZADD', KEYS[1], ARGV[3], ARGV[1])
redis.call('HSET', KEYS[3], ARGV[1], ARGV[2])
if claimed == 1 or not old or tonumber(old) < tonumber(ARGV[2]) then return 1 end
return 0`)

// expireScript: KEYS leases, claims, swept; ARGV now, claim end, limit,
// gap (ms), fresh lease end. Returns {resumed, nodes}: after a gap in
// sweeping every lease is re-armed and none expires; otherwise the lapsed
// leases move to claims, and claims whose sweeper vanished are re-issued.
var expireScript = redis.NewScript(`
local now = tonumber(ARGV[1])
local last = tonumber(redis.call('GET', KEYS[3]) or '0')
redis.call('SET', KEYS[3], ARGV[1])
if last == 0 or now - last > tonumber(ARGV[4]) then
  local stale = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[5])
  for _, id in ipairs(stale) do redis.call('ZADD', KEYS[1], ARGV[5], id) end
  return {1, {}}
end
local out = redis.call('ZRANGEBYSCORE', KEYS[1], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(out) do
  redis.call('ZREM', KEYS[1], id)
  redis.call('ZADD', KEYS[2], ARGV[2], id)
end
local lost = redis.call('ZRANGEBYSCORE', KEYS[2], '-inf', '(' .. ARGV[1], 'LIMIT', 0, ARGV[3])
for _, id in ipairs(lost) do
  redis.call('ZADD', KEYS[2], ARGV[2], id)
  table.insert(out, id)
end
return {0, out}`)

// seenScript: KEYS leases, seen; ARGV node. The last heartbeat of a node
// with a lease, or nil.
var seenScript = redis.NewScript(`
if redis.call('ZSCORE', KEYS[1], ARGV[1]) then return redis.call('HGET', KEYS[2], ARGV[1]) end
return false`)

// expireBatch bounds the nodes one sweep takes offline.
const expireBatch = 1000

func (l *Leases) ctx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), l.timeout)
}

// Renew extends the node's lease to now+ttl; started is true when it had
// none. With Redis unreachable it reports false.
func (l *Leases) Renew(nodeID string, now time.Time, ttl time.Duration) (started bool) {
	ctx, cancel := l.ctx()
	defer cancel()
	k := l.keys
	n, err := renewScript.Run(ctx, l.rdb, []string{k.leases, k.claims, k.seen}, nodeID, ms(now), ms(now.Add(ttl))).Int()
	if l.failed("renew a node lease", err) {
		return false
	}
	return n == 1
}

// Expire hands this sweeper the nodes whose lease lapsed before now (each
// to one sweeper only) and the nodes a vanished sweeper had claimed.
func (l *Leases) Expire(now time.Time) []string {
	ctx, cancel := l.ctx()
	defer cancel()
	k := l.keys
	res, err := expireScript.Run(ctx, l.rdb, []string{k.leases, k.claims, k.swept},
		ms(now), ms(now.Add(l.ttl)), expireBatch, (l.ttl / 2).Milliseconds(), ms(now.Add(l.ttl))).Slice()
	if l.failed("expire node leases", err) || len(res) != 2 {
		return nil
	}
	if r, _ := res[0].(int64); r == 1 {
		l.resumed.Store(true)
		l.log.Info("node leases re-armed after a gap in sweeping (Redis outage or restart)", "ttl", l.ttl)
		return nil
	}
	ids, _ := res[1].([]any)
	out := make([]string, 0, len(ids))
	for _, id := range ids {
		if s, ok := id.(string); ok {
			out = append(out, s)
		}
	}
	return out
}

// LastSeen returns the node's last heartbeat while it holds a lease.
func (l *Leases) LastSeen(nodeID string) (time.Time, bool) {
	ctx, cancel := l.ctx()
	defer cancel()
	s, err := seenScript.Run(ctx, l.rdb, []string{l.keys.leases, l.keys.seen}, nodeID).Text()
	if errors.Is(err, redis.Nil) {
		l.failed("", nil)
		return time.Time{}, false
	}
	if l.failed("read a node lease", err) {
		return time.Time{}, false
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return time.Time{}, false
	}
	return time.UnixMilli(v), true
}

// Drop forgets the node's lease and any claim on it.
func (l *Leases) Drop(nodeID string) {
	ctx, cancel := l.ctx()
	defer cancel()
	k := l.keys
	_, err := l.rdb.TxPipelined(ctx, func(p redis.Pipeliner) error {
		p.ZRem(ctx, k.leases, nodeID)
		p.ZRem(ctx, k.claims, nodeID)
		p.HDel(ctx, k.seen, nodeID)
		return nil
	})
	l.failed("drop a node lease", err)
}

// Settled ends this sweeper's claim once the node's going offline is in
// the log.
func (l *Leases) Settled(nodeID string) {
	ctx, cancel := l.ctx()
	defer cancel()
	l.failed("settle a node lease claim", l.rdb.ZRem(ctx, l.keys.claims, nodeID).Err())
}

// Resumed reports, once, that the last sweep re-armed every lease after a
// gap (see Leases).
func (l *Leases) Resumed() bool { return l.resumed.Swap(false) }

// SampleDue reports whether no replica has sampled the node's metrics in
// the last interval, and if so books this one. With Redis unreachable it
// reports false: a sample is worth less than a write per heartbeat.
func (l *Leases) SampleDue(nodeID string, now time.Time, interval time.Duration) bool {
	ctx, cancel := l.ctx()
	defer cancel()
	ok, err := l.rdb.SetNX(ctx, l.keys.sample+nodeID, ms(now), interval).Result()
	if l.failed("book a metrics sample", err) {
		return false
	}
	return ok
}

// Down reports whether the last Redis call failed, and why.
func (l *Leases) Down() (bool, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.down.Load(), l.lastErr
}

// failed books the outcome of a Redis call and reports whether it failed;
// the first failure of an outage and the recovery are logged.
func (l *Leases) failed(what string, err error) bool {
	if err == nil {
		if l.down.Swap(false) {
			l.log.Info("Redis answers again: shared node leases resume")
		}
		return false
	}
	l.mu.Lock()
	l.lastErr = err
	l.mu.Unlock()
	if !l.down.Swap(true) {
		l.log.Warn("Redis unreachable: heartbeats are answered, no node goes offline until it is back", "op", what, "err", err)
	}
	return true
}
