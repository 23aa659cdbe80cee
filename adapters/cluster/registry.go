package cluster

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"
)

// Replica is one server's registration.
type Replica struct {
	ID      string    `json:"id"`
	GRPC    string    `json:"grpc"`
	REST    string    `json:"rest"`
	Started time.Time `json:"started"`
	Leader  bool      `json:"leader"` // it held the leader lease when it last registered
}

// Registry lists the live replicas: each registers itself under its own
// key with a TTL and refreshes it, so a dead replica drops out within the
// TTL.
type Registry struct {
	rdb    *redis.Client
	prefix string
	ttl    time.Duration
	tmo    time.Duration
}

// NewRegistry returns the registry of the cluster opts.Prefix names;
// registrations live ttl unless refreshed.
func NewRegistry(rdb *redis.Client, opts Options, ttl time.Duration) *Registry {
	return &Registry{rdb: rdb, prefix: opts.Prefix + "replica:", ttl: ttl, tmo: opts.timeout()}
}

// Run registers self every ttl/3 (self is called each time, so it can
// report leadership) until ctx ends, then removes the registration.
func (r *Registry) Run(ctx context.Context, self func() Replica) {
	t := time.NewTicker(max(r.ttl/3, 10*time.Millisecond))
	defer t.Stop()
	for {
		r.register(ctx, self())
		select {
		case <-ctx.Done():
			dctx, cancel := context.WithTimeout(context.Background(), r.tmo)
			r.rdb.Del(dctx, r.prefix+self().ID)
			cancel()
			return
		case <-t.C:
		}
	}
}

func (r *Registry) register(ctx context.Context, me Replica) {
	b, err := json.Marshal(me)
	if err != nil {
		return
	}
	cctx, cancel := context.WithTimeout(ctx, r.tmo)
	defer cancel()
	r.rdb.Set(cctx, r.prefix+me.ID, b, r.ttl)
}

// List returns the registered replicas, by id.
func (r *Registry) List(ctx context.Context) ([]Replica, error) {
	cctx, cancel := context.WithTimeout(ctx, r.tmo)
	defer cancel()
	var keys []string
	iter := r.rdb.Scan(cctx, 0, r.prefix+"*", 100).Iterator()
	for iter.Next(cctx) {
		keys = append(keys, iter.Val())
	}
	if err := iter.Err(); err != nil {
		return nil, err
	}
	if len(keys) == 0 {
		return nil, nil
	}
	vals, err := r.rdb.MGet(cctx, keys...).Result()
	if err != nil {
		return nil, err
	}
	var out []Replica
	for _, v := range vals {
		s, ok := v.(string)
		if !ok {
			continue
		}
		var rep Replica
		if json.Unmarshal([]byte(s), &rep) == nil {
			out = append(out, rep)
		}
	}
	slices.SortFunc(out, func(a, b Replica) int { return strings.Compare(a.ID, b.ID) })
	return out, nil
}
