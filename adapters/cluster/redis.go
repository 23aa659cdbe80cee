package cluster

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Options says how to reach Redis and which keys are the cluster's.
type Options struct {
	URL    string // redis://, rediss:// or unix:// (the [redis] url)
	Prefix string // key prefix, e.g. "cyxwiz:"
	// Timeout bounds one Redis call (default 500ms): a heartbeat waits at
	// most this long on an unreachable Redis before it is answered anyway.
	Timeout time.Duration
}

// Dial connects to Redis at opts.URL and checks it answers.
func Dial(ctx context.Context, opts Options) (*redis.Client, error) {
	ro, err := redis.ParseURL(opts.URL)
	if err != nil {
		return nil, fmt.Errorf("redis url: %w", err)
	}
	t := opts.timeout()
	ro.DialTimeout, ro.ReadTimeout, ro.WriteTimeout = t, t, t
	ro.MaxRetries = 0
	rdb := redis.NewClient(ro)
	pctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	if err := rdb.Ping(pctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w", ro.Addr, err)
	}
	return rdb, nil
}

func (o Options) timeout() time.Duration {
	if o.Timeout > 0 {
		return o.Timeout
	}
	return 500 * time.Millisecond
}

func ms(t time.Time) int64 { return t.UnixMilli() }
