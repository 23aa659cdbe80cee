// Package ratelimit keeps one token bucket (golang.org/x/time/rate) per
// principal — a user, a node, a client IP — so that one caller's flood
// spends its own budget and no one else's. The set of buckets is bounded:
// a bucket that has refilled is forgotten (a fresh one is the same), and
// past the configured number of principals arbitrary ones are dropped.
package ratelimit

import (
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// Rule is a sustained rate and a burst; a zero or negative rate means no
// limit.
type Rule struct {
	PerSecond float64
	Burst     int
}

// Unlimited reports whether r limits nothing.
func (r Rule) Unlimited() bool { return r.PerSecond <= 0 }

// Limiter limits each key to its rule.
type Limiter struct {
	rule    Rule
	maxKeys int
	refill  time.Duration // time for an empty bucket to fill: older idle buckets are full

	mu        sync.Mutex
	buckets   map[string]*bucket
	nextSweep int
}

type bucket struct {
	lim  *rate.Limiter
	seen time.Time
}

// New returns a limiter of rule per key, tracking at most maxKeys keys
// (at least 1024).
func New(rule Rule, maxKeys int) *Limiter {
	if rule.Burst < 1 {
		rule.Burst = 1
	}
	maxKeys = max(maxKeys, 1024)
	refill := time.Duration(float64(rule.Burst) / max(rule.PerSecond, 1e-9) * float64(time.Second))
	return &Limiter{rule: rule, maxKeys: maxKeys, refill: refill, buckets: map[string]*bucket{}, nextSweep: 1024}
}

// Allow takes one token of key's bucket at now. When there is none it
// takes nothing and says how long until there is one.
func (l *Limiter) Allow(key string, now time.Time) (ok bool, retryAfter time.Duration) {
	if l == nil || l.rule.Unlimited() {
		return true, 0
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.buckets[key]
	if b == nil {
		l.makeRoom(now)
		b = &bucket{lim: rate.NewLimiter(rate.Limit(l.rule.PerSecond), l.rule.Burst)}
		l.buckets[key] = b
	}
	b.seen = now
	r := b.lim.ReserveN(now, 1)
	if d := r.DelayFrom(now); d > 0 {
		r.CancelAt(now)
		return false, d
	}
	return true, 0
}

// Len is the number of keys tracked.
func (l *Limiter) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}

// makeRoom forgets the full buckets once the map has doubled since the
// last sweep, and arbitrary ones at maxKeys; l.mu is held. Sweeps are
// amortised: each follows a number of insertions proportional to its cost.
func (l *Limiter) makeRoom(now time.Time) {
	if len(l.buckets) < l.nextSweep && len(l.buckets) < l.maxKeys {
		return
	}
	for k, b := range l.buckets {
		if now.Sub(b.seen) >= l.refill {
			delete(l.buckets, k)
		}
	}
	if len(l.buckets) >= l.maxKeys {
		// A spray of new keys: drop a quarter, so that the next sweep is
		// as many insertions away.
		for k := range l.buckets {
			if len(l.buckets) < l.maxKeys*3/4 {
				break
			}
			delete(l.buckets, k)
		}
	}
	l.nextSweep = min(max(2*len(l.buckets), 1024), l.maxKeys)
}

// Kind is the kind of principal a request is counted against.
type Kind int

// Kinds of principal: a user token's subject, a node session's node, and
// the client IP of a call without a token.
const (
	User Kind = iota
	Node
	IP
)

func (k Kind) String() string {
	switch k {
	case User:
		return "user"
	case Node:
		return "node"
	}
	return "ip"
}

// Rules are the rates of each kind of principal, and how many principals
// of each kind are tracked.
type Rules struct {
	User, Node, IP Rule
	MaxKeys        int
}

// Principals limits each user, node and anonymous IP to its rule.
type Principals struct {
	limiters [3]*Limiter
}

// NewPrincipals returns the limiters of rules.
func NewPrincipals(r Rules) *Principals {
	return &Principals{limiters: [3]*Limiter{New(r.User, r.MaxKeys), New(r.Node, r.MaxKeys), New(r.IP, r.MaxKeys)}}
}

// Allow counts one request of the principal id of kind k at now; see
// Limiter.Allow. A nil Principals allows everything.
func (p *Principals) Allow(k Kind, id string, now time.Time) (bool, time.Duration) {
	if p == nil {
		return true, 0
	}
	return p.limiters[k].Allow(id, now)
}

// Tracked is the number of principals of kind k being tracked.
func (p *Principals) Tracked(k Kind) int { return p.limiters[k].Len() }

// RetryAfterSeconds renders a wait for a Retry-After header: whole
// seconds, at least 1.
func RetryAfterSeconds(d time.Duration) int {
	s := int((d + time.Second - 1) / time.Second)
	return max(s, 1)
}

// Slots caps how many things (open streams) each key holds at once; a
// key holding none is not tracked.
type Slots struct {
	max int
	mu  sync.Mutex
	n   map[string]int
}

// NewSlots returns a cap of max per key (≤ 0: no cap).
func NewSlots(max int) *Slots { return &Slots{max: max, n: map[string]int{}} }

// Acquire takes a slot of key; ok is false when key holds its maximum.
// release gives the slot back (once).
func (s *Slots) Acquire(key string) (release func(), ok bool) {
	if s == nil || s.max <= 0 {
		return func() {}, true
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n[key] >= s.max {
		return nil, false
	}
	s.n[key]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.n[key]--; s.n[key] <= 0 {
				delete(s.n, key)
			}
		})
	}, true
}

// Max is the cap per key (≤ 0: none).
func (s *Slots) Max() int {
	if s == nil {
		return 0
	}
	return s.max
}
