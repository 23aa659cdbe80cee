package storetest

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/cyxwiz/central-server/eventstore"
)

// testIdempotentRetry: an append retried with the same event IDs returns
// the original result and records nothing, even when its expected
// revision is stale by then.
func testIdempotentRetry(t *testing.T, s *suite) {
	st := s.open(t)
	events := newEvents("Paid", 3)
	orig := mustAppend(t, st, "pay", eventstore.NoStream(), events...)

	if res := mustAppend(t, st, "pay", eventstore.NoStream(), events...); res != orig {
		t.Fatalf("immediate retry: %+v, want %+v", res, orig)
	}
	later := newEvent("Settled", 0)
	mustAppend(t, st, "pay", eventstore.Exact(orig.NextRevision), later)
	mustAppend(t, st, "unrelated", eventstore.NoStream(), newEvent("Other", 0))

	for name, expected := range map[string]eventstore.ExpectedRevision{
		"stale NoStream": eventstore.NoStream(),
		"stale Exact":    eventstore.Exact(0),
		"Any":            eventstore.Any(),
	} {
		if res, err := st.Append(t.Context(), "pay", expected, events...); err != nil || res != orig {
			t.Fatalf("retry with %s: %+v, %v; want %+v", name, res, err, orig)
		}
	}
	upper := append([]eventstore.EventData(nil), events...)
	for i := range upper {
		upper[i].ID = strings.ToUpper(upper[i].ID)
	}
	if res, err := st.Append(t.Context(), "pay", eventstore.NoStream(), upper...); err != nil || res != orig {
		t.Fatalf("retry with upper-case IDs: %+v, %v; want %+v", res, err, orig)
	}
	// A retry of the first events of an append finds where they are.
	prefix, err := st.Append(t.Context(), "pay", eventstore.NoStream(), events[:2]...)
	if err != nil || prefix.NextRevision != 1 || prefix.Position >= orig.Position {
		t.Fatalf("retry of a prefix: %+v, %v", prefix, err)
	}
	checkStream(t, st, "pay", append(events, later))
	if all := mustReadAll(t, st, 0, 0); len(all) != 5 {
		t.Fatalf("log has %d events, want 5", len(all))
	}
}

// testIdempotentConcurrentRetry: the same append sent concurrently is
// recorded once and every sender gets the same result.
func testIdempotentConcurrentRetry(t *testing.T, s *suite) {
	st := s.open(t)
	const senders = 16
	events := newEvents("Once", 2)
	results := make([]eventstore.AppendResult, senders)
	errs := make([]error, senders)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range senders {
		wg.Go(func() {
			<-start
			results[i], errs[i] = st.Append(t.Context(), "once", eventstore.NoStream(), events...)
		})
	}
	close(start)
	wg.Wait()
	for i := range senders {
		if errs[i] != nil || results[i] != results[0] {
			t.Fatalf("sender %d: %+v, %v; sender 0: %+v", i, results[i], errs[i], results[0])
		}
	}
	checkStream(t, st, "once", events)
	if all := mustReadAll(t, st, 0, 0); len(all) != len(events) {
		t.Fatalf("log has %d events, want %d", len(all), len(events))
	}
}

// testPartiallyRecordedIDs: an append that is neither new nor a retry of
// an earlier one is refused and records nothing.
func testPartiallyRecordedIDs(t *testing.T, s *suite) {
	st := s.open(t)
	events := newEvents("Part", 3)
	mustAppend(t, st, "part", eventstore.NoStream(), events...)
	mustAppend(t, st, "elsewhere", eventstore.NoStream(), newEvent("Other", 0))
	fresh := newEvent("Fresh", 0)
	cases := map[string]struct {
		stream string
		events []eventstore.EventData
	}{
		"recorded then new": {"part", []eventstore.EventData{events[2], fresh}},
		"new then recorded": {"part", []eventstore.EventData{fresh, events[0]}},
		"out of order":      {"part", []eventstore.EventData{events[1], events[0]}},
		"with a gap":        {"part", []eventstore.EventData{events[0], events[2]}},
	}
	for name, c := range cases {
		res, err := st.Append(t.Context(), c.stream, eventstore.Any(), c.events...)
		if !errors.Is(err, eventstore.ErrDuplicateEventID) && !errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			t.Fatalf("%s: Append: %+v, %v; want ErrDuplicateEventID or ErrWrongExpectedRevision", name, res, err)
		}
	}
	checkStream(t, st, "part", events)
	if all := mustReadAll(t, st, 0, 0); len(all) != 4 {
		t.Fatalf("log has %d events, want 4", len(all))
	}
}

// testIDsScopedToStreams: event IDs are unique within a stream only, as in
// EventStoreDB: the same ID in another stream is another event.
func testIDsScopedToStreams(t *testing.T, s *suite) {
	st := s.open(t)
	e := newEvent("Shared", 0)
	a := mustAppend(t, st, "scope-a", eventstore.NoStream(), e)
	b := mustAppend(t, st, "scope-b", eventstore.NoStream(), e)
	if b.Position <= a.Position {
		t.Fatalf("same ID in another stream: %+v after %+v, want a new event", b, a)
	}
	checkStream(t, st, "scope-a", []eventstore.EventData{e})
	checkStream(t, st, "scope-b", []eventstore.EventData{e})
	if res := mustAppend(t, st, "scope-a", eventstore.Any(), e); res != a {
		t.Fatalf("retry in scope-a: %+v, want %+v", res, a)
	}
}
