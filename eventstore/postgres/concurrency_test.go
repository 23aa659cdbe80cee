package postgres_test

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/postgres"
	"github.com/cyxwiz/central-server/eventstore/postgres/pgtest"
	"github.com/google/uuid"
)

// soakFor is how long TestAppendersAndSubscribers appends: 20s as the
// issue asks, 3s with -short.
func soakFor() time.Duration {
	if d, err := time.ParseDuration(os.Getenv("CYXWIZ_PGLOG_SOAK")); err == nil {
		return d
	}
	if testing.Short() {
		return 3 * time.Second
	}
	return 20 * time.Second
}

// TestAppendersAndSubscribers: 64 appenders on 16 streams, each append at
// the revision its appender last saw (losing races is expected), with 4
// live subscribers. Every subscriber sees exactly the acknowledged events,
// all in the same order, positions strictly increasing, and no stream has
// a revision twice.
func TestAppendersAndSubscribers(t *testing.T) {
	const appenders, streams, subscribers = 64, 16, 4
	url := pgtest.URL(t)
	st := open(t, url, pgtest.Schema(t, url), postgres.Options{})

	subs := make([]eventstore.Subscription, subscribers)
	got := make([][]eventstore.RecordedEvent, subscribers)
	var (
		readers sync.WaitGroup
		gotMu   sync.Mutex
	)
	for i := range subs {
		sub, err := st.SubscribeAll(t.Context(), 0)
		if err != nil {
			t.Fatal(err)
		}
		defer sub.Close()
		subs[i] = sub
		readers.Go(func() {
			for m := range sub.C() {
				if m.Event != nil {
					gotMu.Lock()
					got[i] = append(got[i], *m.Event)
					gotMu.Unlock()
				}
			}
		})
	}

	var (
		mu       sync.Mutex
		acked    = map[string]eventstore.AppendResult{} // event id → result of its append
		lastPos  uint64
		conflict int
		wg       sync.WaitGroup
		stop     = time.Now().Add(soakFor())
	)
	for a := range appenders {
		wg.Go(func() {
			seen := map[string]eventstore.ExpectedRevision{}
			for i := 0; time.Now().Before(stop); i++ {
				stream := fmt.Sprintf("job-%d", (a+i)%streams)
				expected, ok := seen[stream]
				if !ok || i%5 == 0 {
					expected = eventstore.Any()
				}
				events := make([]eventstore.EventData, 1+i%3)
				for j := range events {
					events[j] = eventstore.EventData{ID: uuid.NewString(), Type: "Soaked", Data: []byte(`{}`)}
				}
				res, err := st.Append(t.Context(), stream, expected, events...)
				var wrong *eventstore.WrongExpectedRevisionError
				switch {
				case err == nil:
					seen[stream] = eventstore.Exact(res.NextRevision)
					mu.Lock()
					for _, e := range events {
						acked[e.ID] = res
					}
					lastPos = max(lastPos, res.Position)
					mu.Unlock()
				case errors.As(err, &wrong):
					seen[stream] = eventstore.ExpectedFor(wrong.Actual, wrong.Exists)
					mu.Lock()
					conflict++
					mu.Unlock()
				default:
					t.Errorf("append to %s: %v", stream, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d events acknowledged, %d appends lost a race", len(acked), conflict)
	deadline := time.Now().Add(60 * time.Second)
	for {
		done := 0
		gotMu.Lock()
		for i := range subs {
			if n := len(got[i]); n > 0 && got[i][n-1].Position >= lastPos {
				done++
			}
		}
		gotMu.Unlock()
		if done == subscribers {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("subscribers did not reach position %d within 60s", lastPos)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for _, sub := range subs {
		_ = sub.Close()
	}
	readers.Wait()

	for i, events := range got {
		if len(events) != len(acked) {
			t.Fatalf("subscriber %d saw %d events, %d acknowledged", i, len(events), len(acked))
		}
		revs := map[string]map[uint64]bool{}
		for j, e := range events {
			res, ok := acked[e.ID]
			switch {
			case !ok:
				t.Fatalf("subscriber %d: event %s was never acknowledged", i, e.ID)
			case j > 0 && e.Position <= events[j-1].Position:
				t.Fatalf("subscriber %d: position %d after %d", i, e.Position, events[j-1].Position)
			case e.Position > res.Position || e.Revision > res.NextRevision:
				t.Fatalf("subscriber %d: event %s at %d/%d, its append ended at %+v", i, e.ID, e.Position, e.Revision, res)
			case i > 0 && e.ID != got[0][j].ID:
				t.Fatalf("subscribers 0 and %d disagree at #%d", i, j)
			}
			if revs[e.Stream] == nil {
				revs[e.Stream] = map[uint64]bool{}
			}
			if revs[e.Stream][e.Revision] {
				t.Fatalf("stream %s has revision %d twice", e.Stream, e.Revision)
			}
			revs[e.Stream][e.Revision] = true
		}
		for stream, rs := range revs {
			keys := slices.Sorted(maps.Keys(rs))
			if keys[len(keys)-1] != uint64(len(keys)-1) {
				t.Fatalf("stream %s: revisions are not 0..%d", stream, len(keys)-1)
			}
		}
	}
}
