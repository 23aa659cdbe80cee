package cluster

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// Leader elects, among the replicas, the one that runs what must run once
// (scheduler, dispatcher, timeouts, settlement): a Redis key held with a
// TTL, taken with SET NX PX and renewed every TTL/3 by a compare-and-renew
// script. The key's value names the holder and a fencing token (INCR), so
// a holder that paused past its TTL cannot renew or delete its
// successor's lease. A holder that cannot renew steps down once its lease
// may have ended; another replica takes over within TTL plus one poll.
type Leader struct {
	rdb  *redis.Client
	key  string
	fkey string
	id   string
	ttl  time.Duration
	tmo  time.Duration
	log  *slog.Logger
	now  func() time.Time

	mu     sync.Mutex
	value  string    // our lease value while we hold it
	since  time.Time // when we took the lease
	until  time.Time // our lease surely ends no earlier than this
	change chan struct{}
}

// LeaderState is what a replica knows about the leader.
type LeaderState struct {
	Leader  string    // the holder's replica id ("" = none)
	Token   int64     // the holder's fencing token
	Self    bool      // this replica holds the lease
	Since   time.Time // when this replica took it (Self only)
	Expires time.Duration
}

// NewLeader returns the election of the cluster opts.Prefix names, as
// replica id, with a lease of ttl.
func NewLeader(rdb *redis.Client, opts Options, id string, ttl time.Duration, log *slog.Logger) *Leader {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Leader{rdb: rdb, key: opts.Prefix + "leader", fkey: opts.Prefix + "fence", id: id, ttl: ttl,
		tmo: opts.timeout(), log: log, now: time.Now, change: make(chan struct{})}
}

// acquireScript: KEYS leader, fence; ARGV replica id, ttl ms. The new
// fencing token, or 0 when another replica holds the lease.
var acquireScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
local t = redis.call('INCR', KEYS[2])
redis.call('SET', KEYS[1], ARGV[1] .. '#' .. t, 'PX', ARGV[2])
return t`)

// renewLeaderScript: KEYS leader; ARGV value, ttl ms. 1 when the value
// still holds the lease (now renewed).
var renewLeaderScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return 0`)

// releaseScript: KEYS leader; ARGV value. Deletes the lease if ours.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) end
return 0`)

// Run takes part in the election until ctx ends; lead runs, with a
// context that ends when leadership is lost, each time this replica wins.
// On return the lease is released so another replica takes over at once.
func (l *Leader) Run(ctx context.Context, lead func(ctx context.Context)) {
	poll := max(l.ttl/3, 10*time.Millisecond)
	var (
		stop func()
		done chan struct{}
	)
	stepDown := func(why string) {
		if stop == nil {
			return
		}
		stop()
		<-done
		stop = nil
		l.set("", time.Time{}, time.Time{})
		l.log.Warn("leadership lost", "replica", l.id, "why", why)
	}
	defer func() {
		value := l.holding()
		stepDown("stopping")
		if value != "" {
			rctx, cancel := context.WithTimeout(context.Background(), l.tmo)
			_ = releaseScript.Run(rctx, l.rdb, []string{l.key}, value).Err()
			cancel()
		}
	}()
	t := time.NewTicker(poll)
	defer t.Stop()
	for {
		if stop == nil {
			if l.tryAcquire(ctx) {
				lctx, cancel := context.WithCancel(ctx)
				stop, done = cancel, make(chan struct{})
				go func() { defer close(done); lead(lctx) }()
			}
		} else if why := l.renew(ctx); why != "" {
			stepDown(why)
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// tryAcquire takes the lease if nobody holds it.
func (l *Leader) tryAcquire(ctx context.Context) bool {
	start := l.now()
	cctx, cancel := context.WithTimeout(ctx, l.tmo)
	defer cancel()
	tok, err := acquireScript.Run(cctx, l.rdb, []string{l.key, l.fkey}, l.id, l.ttl.Milliseconds()).Int64()
	if err != nil || tok == 0 {
		return false
	}
	l.set(l.id+"#"+strconv.FormatInt(tok, 10), start, start.Add(l.ttl))
	l.log.Info("leadership taken", "replica", l.id, "token", tok, "ttl", l.ttl)
	return true
}

// renew extends the lease; it returns why leadership ends ("" = it goes
// on): the lease is another's, or it could not be renewed before it may
// have lapsed.
func (l *Leader) renew(ctx context.Context) string {
	value := l.holding()
	start := l.now()
	cctx, cancel := context.WithTimeout(ctx, l.tmo)
	defer cancel()
	n, err := renewLeaderScript.Run(cctx, l.rdb, []string{l.key}, value, l.ttl.Milliseconds()).Int()
	switch {
	case err == nil && n == 1:
		l.mu.Lock()
		l.until = start.Add(l.ttl)
		l.mu.Unlock()
		return ""
	case err == nil:
		return "the lease is held by another replica"
	case ctx.Err() != nil:
		return "stopping"
	}
	l.mu.Lock()
	until := l.until
	l.mu.Unlock()
	// Step down one poll early: by the next renewal it may be too late.
	if !l.now().Add(l.ttl / 3).Before(until) {
		return "cannot renew the lease: " + err.Error()
	}
	l.log.Warn("leader lease renewal failed; retrying", "err", err)
	return ""
}

func (l *Leader) set(value string, since, until time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.value, l.since, l.until = value, since, until
}

func (l *Leader) holding() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.value
}

// IsLeader reports whether this replica holds the lease now.
func (l *Leader) IsLeader() bool { return l.holding() != "" }

// State reads who holds the lease.
func (l *Leader) State(ctx context.Context) (LeaderState, error) {
	l.mu.Lock()
	st := LeaderState{Self: l.value != "", Since: l.since}
	l.mu.Unlock()
	cctx, cancel := context.WithTimeout(ctx, l.tmo)
	defer cancel()
	pipe := l.rdb.Pipeline()
	get := pipe.Get(cctx, l.key)
	ttl := pipe.PTTL(cctx, l.key)
	if _, err := pipe.Exec(cctx); err != nil && !errors.Is(err, redis.Nil) {
		return st, err
	}
	holder, tok, _ := strings.Cut(get.Val(), "#")
	st.Leader = holder
	st.Token, _ = strconv.ParseInt(tok, 10, 64)
	st.Expires = max(ttl.Val(), 0)
	return st, nil
}
