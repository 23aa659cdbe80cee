package postgres_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/postgres"
	"github.com/cyxwiz/central-server/eventstore/postgres/pgtest"
	"github.com/google/uuid"
)

// TestRestartUnderLoad restarts PostgreSQL (a throwaway cluster of this
// test, stopped like a crash) while 8 appenders append and a subscriber
// reads: appends in flight fail with an error or succeed, nothing
// acknowledged is lost, nothing unacknowledged appears but what failed in
// flight, and the subscription resumes where it was, with no gap and no
// duplicate.
func TestRestartUnderLoad(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	st := open(t, cluster.URL, "eventlog", postgres.Options{Poll: 50 * time.Millisecond})
	sub, err := st.SubscribeAll(t.Context(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sub.Close()
	var (
		gotMu sync.Mutex
		got   []eventstore.RecordedEvent
	)
	subDone := make(chan struct{})
	go func() {
		defer close(subDone)
		for m := range sub.C() {
			if m.Event != nil {
				gotMu.Lock()
				got = append(got, *m.Event)
				gotMu.Unlock()
			}
		}
	}()

	var (
		mu       sync.Mutex
		acked    = map[string]bool{}
		failed   = map[string]bool{}
		lastPos  uint64
		failures atomic.Int64
		stop     atomic.Bool
		wg       sync.WaitGroup
	)
	count := func() int { mu.Lock(); defer mu.Unlock(); return len(acked) }
	for a := range 8 {
		wg.Go(func() {
			for i := 0; !stop.Load(); i++ {
				e := eventstore.EventData{ID: uuid.NewString(), Type: "Restarted", Data: fmt.Appendf(nil, `{"i":%d}`, i)}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				res, err := st.Append(ctx, fmt.Sprintf("restart-%d", a), eventstore.Any(), e)
				cancel()
				mu.Lock()
				if err == nil {
					acked[e.ID] = true
					lastPos = max(lastPos, res.Position)
				} else {
					failed[e.ID] = true
				}
				mu.Unlock()
				if err != nil {
					if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, eventstore.ErrClosed) {
						t.Errorf("append did not fail cleanly: %v", err)
						return
					}
					failures.Add(1)
					time.Sleep(20 * time.Millisecond)
				}
			}
		})
	}
	waitFor(t, "200 appends before the restart", func() bool { return count() >= 200 })
	before := count()
	cluster.Restart(t)
	waitFor(t, "200 more appends after the restart", func() bool { return count() >= before+200 })
	stop.Store(true)
	wg.Wait()
	if t.Failed() {
		return
	}
	t.Logf("%d appends acknowledged, %d failed during the restart", count(), failures.Load())

	waitFor(t, "the subscriber to reach the last acknowledged position", func() bool {
		gotMu.Lock()
		defer gotMu.Unlock()
		return len(got) > 0 && got[len(got)-1].Position >= lastPos
	})
	select {
	case <-subDone:
		t.Fatalf("the subscription ended: %v", sub.Err())
	default:
	}
	all, err := st.ReadAll(t.Context(), 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	recorded := map[string]bool{}
	for _, e := range all {
		recorded[e.ID] = true
		if !acked[e.ID] && !failed[e.ID] {
			t.Fatalf("event %s recorded but never appended", e.ID)
		}
	}
	for id := range acked {
		if !recorded[id] {
			t.Fatalf("acknowledged event %s lost in the restart", id)
		}
	}
	gotMu.Lock()
	defer gotMu.Unlock()
	if len(got) != len(all) {
		t.Fatalf("the subscriber saw %d events, the log holds %d", len(got), len(all))
	}
	for i := range got {
		if got[i].ID != all[i].ID || got[i].Position != all[i].Position {
			t.Fatalf("subscriber event #%d: %s at %d; the log has %s at %d", i, got[i].ID, got[i].Position, all[i].ID, all[i].Position)
		}
	}
}
