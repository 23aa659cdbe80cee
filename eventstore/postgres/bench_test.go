package postgres_test

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/bolt"
	"github.com/cyxwiz/central-server/eventstore/postgres"
	"github.com/cyxwiz/central-server/eventstore/postgres/pgtest"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"golang.org/x/time/rate"
)

var benchData = []byte(`{"job_id":"7d1c0e2a-5b7c-4a8e-9f3e-1b2c3d4e5f60","progress":0.42,"node":"node-17"}`)

// appendFunc appends the i-th event (0-based) of a job stream.
type appendFunc func(ctx context.Context, stream string, i int) error

// BenchmarkAppendCompare measures durable one-event appends on job-shaped
// streams (each appender starts a new stream every 10 events, appending at
// the exact revision as the command handler does) by 1, 16 and 256
// appenders, for the embedded store, the PostgreSQL store and a plain
// PostgreSQL table written with one INSERT transaction per event. One op is
// one event. The PostgreSQL store and the plain table get the same pool
// size (8 connections).
func BenchmarkAppendCompare(b *testing.B) {
	for _, kind := range []string{"embedded", "postgres", "plain"} {
		for _, appenders := range []int{1, 16, 256} {
			b.Run(fmt.Sprintf("store=%s/appenders=%d", kind, appenders), func(b *testing.B) {
				app, stats := benchTarget(b, kind)
				benchAppends(b, appenders, app)
				if stats != nil {
					stats(b)
				}
			})
		}
	}
}

func benchTarget(b *testing.B, kind string) (appendFunc, func(*testing.B)) {
	switch kind {
	case "embedded":
		st, err := bolt.Open(filepath.Join(b.TempDir(), "events.db"))
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		return storeAppend(st), nil
	case "postgres":
		url := pgtest.URL(b)
		st, err := postgres.Open(b.Context(), url, postgres.Options{Schema: pgtest.Schema(b, url)})
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { _ = st.Close() })
		c0, a0 := st.WriteStats()
		return storeAppend(st), func(b *testing.B) {
			c, a := st.WriteStats()
			if c > c0 {
				b.ReportMetric(float64(a-a0)/float64(c-c0), "appends/commit")
			}
		}
	default:
		return plainTable(b), nil
	}
}

func storeAppend(st eventstore.Store) appendFunc {
	return func(ctx context.Context, stream string, i int) error {
		e := eventstore.EventData{ID: uuid.NewString(), Type: "JobProgressed", Data: benchData}
		_, err := st.Append(ctx, stream, eventstore.ExpectedFor(uint64(i-1), i > 0), e)
		return err
	}
}

// plainTable is the baseline a user would write: one table, one INSERT
// (its own transaction) per event, a bigserial position.
func plainTable(b *testing.B) appendFunc {
	url := pgtest.URL(b)
	schema := pgtest.Schema(b, url)
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		b.Fatal(err)
	}
	cfg.MaxConns = 8
	cfg.ConnConfig.RuntimeParams["search_path"] = schema
	pool, err := pgxpool.NewWithConfig(b.Context(), cfg)
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(pool.Close)
	_, err = pool.Exec(b.Context(), "CREATE SCHEMA "+pgx.Identifier{schema}.Sanitize()+`;
		CREATE TABLE `+pgx.Identifier{schema, "plain_events"}.Sanitize()+` (
			position bigserial PRIMARY KEY, stream text NOT NULL, revision bigint NOT NULL, id uuid NOT NULL,
			type text NOT NULL, data json, recorded timestamptz NOT NULL DEFAULT now(), UNIQUE (stream, revision))`)
	if err != nil {
		b.Fatal(err)
	}
	return func(ctx context.Context, stream string, i int) error {
		_, err := pool.Exec(ctx, `INSERT INTO plain_events (stream, revision, id, type, data) VALUES ($1, $2, $3, $4, $5)`,
			stream, i, uuid.NewString(), "JobProgressed", string(benchData))
		return err
	}
}

// benchAppends runs b.N appends from appenders goroutines on job-shaped
// streams and reports events/s.
func benchAppends(b *testing.B, appenders int, app appendFunc) {
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	start := time.Now()
	for range appenders {
		wg.Go(func() {
			var stream string
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				if i%10 == 0 {
					stream = "job-" + uuid.NewString()
				}
				if err := app(b.Context(), stream, i%10); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "events/s")
}

// BenchmarkSubscriberLag appends 1,000 one-event appends/s for 5 s from 16
// appenders on job-shaped streams while a live subscriber reads, and
// reports the lag from the start of each Append to its delivery: p50, p99
// and max in ms. Run it with -benchtime=1x.
func BenchmarkSubscriberLag(b *testing.B) {
	for _, kind := range []string{"embedded", "postgres"} {
		b.Run("store="+kind, func(b *testing.B) {
			var st eventstore.Store
			var err error
			if kind == "embedded" {
				st, err = bolt.Open(filepath.Join(b.TempDir(), "events.db"))
			} else {
				url := pgtest.URL(b)
				st, err = postgres.Open(b.Context(), url, postgres.Options{Schema: pgtest.Schema(b, url)})
			}
			if err != nil {
				b.Fatal(err)
			}
			defer st.Close()
			for range b.N {
				benchLag(b, st)
			}
		})
	}
}

func benchLag(b *testing.B, st eventstore.Store) {
	const perSecond, seconds, appenders = 1000, 5, 16
	sub, err := st.SubscribeAll(b.Context(), 0)
	if err != nil {
		b.Fatal(err)
	}
	defer sub.Close()
	lags := make([]time.Duration, 0, perSecond*seconds)
	read := make(chan struct{})
	go func() {
		defer close(read)
		for m := range sub.C() {
			if m.Event == nil {
				continue
			}
			var p struct{ T int64 }
			if json.Unmarshal(m.Event.Data, &p) == nil && p.T > 0 {
				lags = append(lags, time.Since(time.Unix(0, p.T)))
				if len(lags) == cap(lags) {
					return
				}
			}
		}
	}()
	limiter := rate.NewLimiter(perSecond, 1)
	var sent atomic.Int64
	var wg sync.WaitGroup
	for range appenders {
		wg.Go(func() {
			var stream string
			for i := 0; sent.Add(1) <= perSecond*seconds; i++ {
				if err := limiter.Wait(b.Context()); err != nil {
					b.Error(err)
					return
				}
				if i%10 == 0 {
					stream = "job-" + uuid.NewString()
				}
				e := eventstore.EventData{ID: uuid.NewString(), Type: "JobProgressed", Data: fmt.Appendf(nil, `{"T":%d}`, time.Now().UnixNano())}
				if _, err := st.Append(b.Context(), stream, eventstore.ExpectedFor(uint64(i%10-1), i%10 > 0), e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	select {
	case <-read:
	case <-time.After(30 * time.Second):
		b.Fatalf("subscriber got %d of %d events", len(lags), perSecond*seconds)
	}
	slices.Sort(lags)
	ms := func(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
	b.ReportMetric(ms(lags[len(lags)/2]), "p50-ms")
	b.ReportMetric(ms(lags[len(lags)*99/100]), "p99-ms")
	b.ReportMetric(ms(lags[len(lags)-1]), "max-ms")
}
