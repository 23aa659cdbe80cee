package storetest

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/cyxwiz/central-server/eventstore"
)

// testConcurrentAppendersRounds: in each round, 50 appenders race to
// append at the same expected revision; exactly one wins.
func testConcurrentAppendersRounds(t *testing.T, s *suite) {
	st := s.open(t)
	const appenders, rounds = 50, 12
	want := []eventstore.EventData{newEvent("Start", 0)}
	mustAppend(t, st, "race", eventstore.NoStream(), want[0])
	for round := range uint64(rounds) {
		var (
			wg      sync.WaitGroup
			start   = make(chan struct{})
			results = make([]error, appenders)
			events  = newEvents("Raced", appenders)
		)
		for g := range appenders {
			wg.Go(func() {
				<-start
				_, results[g] = st.Append(t.Context(), "race", eventstore.Exact(round), events[g])
			})
		}
		close(start)
		wg.Wait()
		won := -1
		for g, err := range results {
			var wrong *eventstore.WrongExpectedRevisionError
			switch {
			case err == nil && won >= 0:
				t.Fatalf("round %d: appenders %d and %d both won revision %d", round, won, g, round+1)
			case err == nil:
				won = g
			case !errors.As(err, &wrong):
				t.Fatalf("round %d: appender %d: %v, want a *WrongExpectedRevisionError", round, g, err)
			case !wrong.Exists || wrong.Actual != round+1:
				t.Fatalf("round %d: appender %d: %+v, want actual revision %d", round, g, wrong, round+1)
			}
		}
		if won < 0 {
			t.Fatalf("round %d: no appender won", round)
		}
		want = append(want, events[won])
	}
	checkStream(t, st, "race", want)
}

// testConcurrentAppendersFree: 50 appenders each loop read → append at the
// revision read, until the stream is long enough. Every acknowledged
// event is at the revision its append reported, and there are no holes.
func testConcurrentAppendersFree(t *testing.T, s *suite) {
	st := s.open(t)
	const appenders, target = 50, 60
	mustAppend(t, st, "free", eventstore.NoStream(), newEvent("Start", 0))
	var (
		wg   sync.WaitGroup
		mu   sync.Mutex
		won  = map[uint64]eventstore.EventData{} // revision → event
		fail atomic.Value
	)
	for range appenders {
		wg.Go(func() {
			for {
				mu.Lock()
				n := len(won)
				mu.Unlock()
				if n >= target || fail.Load() != nil {
					return
				}
				events, err := st.ReadStream(t.Context(), "free", 0, 0)
				if err != nil {
					fail.Store(err)
					return
				}
				e := newEvent("Free", 0)
				last := events[len(events)-1].Revision
				res, err := st.Append(t.Context(), "free", eventstore.Exact(last), e)
				if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
					continue
				}
				if err != nil || res.NextRevision != last+1 {
					fail.Store(fmt.Errorf("append at %d: %+v, %v", last, res, err))
					return
				}
				mu.Lock()
				if _, dup := won[res.NextRevision]; dup {
					fail.Store(fmt.Errorf("revision %d won twice", res.NextRevision))
				}
				won[res.NextRevision] = e
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if err := fail.Load(); err != nil {
		t.Fatal(err)
	}
	got := mustReadStream(t, st, "free", 0, 0)
	if len(got) != len(won)+1 {
		t.Fatalf("stream has %d events, %d appends acknowledged", len(got), len(won))
	}
	for rev := 1; rev < len(got); rev++ {
		checkEvent(t, got[rev], won[uint64(rev)], "free", uint64(rev))
	}
}

// acked is an acknowledged append.
type acked struct {
	stream string
	events []eventstore.EventData
	res    eventstore.AppendResult
}

// testGlobalOrder: many appenders write many streams; the log's positions
// are strictly increasing and agree with every stream's order and with
// every append's result.
func testGlobalOrder(t *testing.T, s *suite) {
	st := s.open(t)
	const writers, appends, streamsPerWriter = 16, 8, 4
	results := make([][]acked, writers)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				stream := fmt.Sprintf("order-%d-%d", w, i%streamsPerWriter)
				events := newEvents("Ordered", 1+i%3)
				res, err := st.Append(t.Context(), stream, eventstore.Any(), events...)
				if err != nil {
					t.Errorf("Append(%q): %v", stream, err)
					return
				}
				results[w] = append(results[w], acked{stream, events, res})
			}
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	all := mustReadAll(t, st, 0, 0)
	byID := make(map[string]eventstore.RecordedEvent, len(all))
	for i, e := range all {
		if i > 0 && e.Position <= all[i-1].Position {
			t.Fatalf("log: position %d after %d", e.Position, all[i-1].Position)
		}
		byID[e.ID] = e
	}
	total := 0
	streams := map[string][]eventstore.EventData{}
	for _, rs := range results {
		for _, a := range rs {
			total += len(a.events)
			streams[a.stream] = append(streams[a.stream], a.events...)
			last := byID[a.events[len(a.events)-1].ID]
			if last.Position != a.res.Position || last.Revision != a.res.NextRevision {
				t.Fatalf("append to %q returned %+v; its last event is at position %d revision %d",
					a.stream, a.res, last.Position, last.Revision)
			}
		}
	}
	if len(all) != total {
		t.Fatalf("log has %d events, %d acknowledged", len(all), total)
	}
	for stream, want := range streams {
		got := checkStream(t, st, stream, want)
		for _, e := range got {
			if byID[e.ID].Position != e.Position {
				t.Fatalf("event %s: position %d in its stream, %d in the log", e.ID, e.Position, byID[e.ID].Position)
			}
		}
	}
}

// testManyAppends: many small appends from concurrent appenders.
func testManyAppends(t *testing.T, s *suite) {
	st := s.open(t)
	const appenders, each = 10, 50
	var wg sync.WaitGroup
	for a := range appenders {
		wg.Go(func() {
			stream := fmt.Sprintf("many-%d", a)
			for i := range each {
				if _, err := st.Append(t.Context(), stream, eventstore.ExpectedFor(uint64(i-1), i > 0), newEvent("Many", i)); err != nil {
					t.Errorf("Append(%q) #%d: %v", stream, i, err)
					return
				}
			}
		})
	}
	wg.Wait()
	if got := mustReadAll(t, st, 0, 0); len(got) != appenders*each {
		t.Fatalf("log has %d events, want %d", len(got), appenders*each)
	}
	for a := range appenders {
		if got := mustReadStream(t, st, fmt.Sprintf("many-%d", a), 0, 0); len(got) != each {
			t.Fatalf("stream many-%d has %d events, want %d", a, len(got), each)
		}
	}
}
