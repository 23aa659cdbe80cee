// Package storetest is the conformance suite every eventstore.Store passes.
//
// A store's test calls Run with a constructor for a fresh, empty store and,
// if the store persists, a function that reopens a closed store's data:
//
//	func TestConformance(t *testing.T) {
//		storetest.Run(t, newStore, reopen)
//	}
package storetest

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
)

// NewStore returns a fresh, empty store. The suite closes it at the end of
// the test. It is called from parallel subtests.
type NewStore func(t *testing.T) eventstore.Store

// Reopen returns a store over the data of old, which the suite has
// already closed.
type Reopen func(t *testing.T, old eventstore.Store) eventstore.Store

// waitTimeout bounds every wait for a subscription message.
const waitTimeout = 15 * time.Second

// suite is what the subtests share.
type suite struct {
	newStore NewStore
	reopen   Reopen
}

// Run runs the conformance suite as parallel subtests of t. reopen may be
// nil for a store that cannot reopen; the subtests that need it skip.
func Run(t *testing.T, newStore NewStore, reopen Reopen) {
	s := &suite{newStore: newStore, reopen: reopen}
	tests := []struct {
		name string
		run  func(*testing.T, *suite)
	}{
		{"AppendAndRead", testAppendAndRead},
		{"ReadFromRevisionAndMax", testReadFromRevisionAndMax},
		{"ReadAll", testReadAll},
		{"StreamNotFound", testStreamNotFound},
		{"WrongExpectedRevision", testWrongExpectedRevision},
		{"InvalidEvents", testInvalidEvents},
		{"ConcurrentAppendersRounds", testConcurrentAppendersRounds},
		{"ConcurrentAppendersFree", testConcurrentAppendersFree},
		{"GlobalOrder", testGlobalOrder},
		{"IdempotentRetry", testIdempotentRetry},
		{"IdempotentConcurrentRetry", testIdempotentConcurrentRetry},
		{"PartiallyRecordedIDs", testPartiallyRecordedIDs},
		{"IDsScopedToStreams", testIDsScopedToStreams},
		{"SubscribeFromStart", testSubscribeFromStart},
		{"SubscribeFromMiddle", testSubscribeFromMiddle},
		{"SubscribeEmptyStore", testSubscribeEmptyStore},
		{"SubscriptionEnds", testSubscriptionEnds},
		{"SlowSubscriber", testSlowSubscriber},
		{"LargeAppend", testLargeAppend},
		{"ManyAppends", testManyAppends},
		{"Reopen", testReopen},
		{"CloseWhileAppending", testCloseWhileAppending},
		{"Closed", testClosed},
		{"ContextCanceled", testContextCanceled},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			tc.run(t, s)
		})
	}
}

// open returns a fresh store closed at the end of the test.
func (s *suite) open(t *testing.T) eventstore.Store {
	t.Helper()
	st := s.newStore(t)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// newEvent returns an event with a fresh ID, a JSON payload and metadata.
func newEvent(typ string, n int) eventstore.EventData {
	id := uuid.NewString()
	return eventstore.EventData{
		ID:   id,
		Type: typ,
		Data: fmt.Appendf(nil, `{"n":%d}`, n),
		Metadata: eventstore.Metadata{
			CorrelationID: "corr-" + id[:8],
			CausationID:   "cause-" + id[:8],
			Actor:         "storetest",
		},
	}
}

// newEvents returns n events of type typ.
func newEvents(typ string, n int) []eventstore.EventData {
	events := make([]eventstore.EventData, n)
	for i := range events {
		events[i] = newEvent(typ, i)
	}
	return events
}

func mustAppend(t *testing.T, st eventstore.Store, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) eventstore.AppendResult {
	t.Helper()
	res, err := st.Append(t.Context(), stream, expected, events...)
	if err != nil {
		t.Fatalf("Append(%q, %s, %d events): %v", stream, expected, len(events), err)
	}
	return res
}

func mustReadStream(t *testing.T, st eventstore.Store, stream string, from uint64, max int) []eventstore.RecordedEvent {
	t.Helper()
	events, err := st.ReadStream(t.Context(), stream, from, max)
	if err != nil {
		t.Fatalf("ReadStream(%q, %d, %d): %v", stream, from, max, err)
	}
	return events
}

func mustReadAll(t *testing.T, st eventstore.Store, after uint64, max int) []eventstore.RecordedEvent {
	t.Helper()
	events, err := st.ReadAll(t.Context(), after, max)
	if err != nil {
		t.Fatalf("ReadAll(%d, %d): %v", after, max, err)
	}
	return events
}

// checkEvent fails unless got is want, recorded in stream at rev.
func checkEvent(t *testing.T, got eventstore.RecordedEvent, want eventstore.EventData, stream string, rev uint64) {
	t.Helper()
	wantID, err := uuid.Parse(want.ID)
	if err != nil {
		t.Fatalf("bad test event id %q", want.ID)
	}
	switch {
	case got.ID != wantID.String():
		t.Fatalf("event %s/%d: ID %q, want %q", stream, rev, got.ID, wantID.String())
	case got.Type != want.Type:
		t.Fatalf("event %s/%d: Type %q, want %q", stream, rev, got.Type, want.Type)
	case got.Stream != stream:
		t.Fatalf("event %s: Stream %q, want %q", got.ID, got.Stream, stream)
	case got.Revision != rev:
		t.Fatalf("event %s: Revision %d, want %d", got.ID, got.Revision, rev)
	case got.Position == 0:
		t.Fatalf("event %s: Position 0; positions are 1-based", got.ID)
	case got.Recorded.IsZero():
		t.Fatalf("event %s: zero Recorded time", got.ID)
	case !bytes.Equal(got.Data, want.Data):
		t.Fatalf("event %s: Data %q, want %q", got.ID, got.Data, want.Data)
	case got.Metadata != want.Metadata:
		t.Fatalf("event %s: Metadata %+v, want %+v", got.ID, got.Metadata, want.Metadata)
	}
}

// checkStream fails unless stream holds exactly want, in order.
func checkStream(t *testing.T, st eventstore.Store, stream string, want []eventstore.EventData) []eventstore.RecordedEvent {
	t.Helper()
	got := mustReadStream(t, st, stream, 0, 0)
	if len(got) != len(want) {
		t.Fatalf("stream %q has %d events, want %d", stream, len(got), len(want))
	}
	for i := range got {
		checkEvent(t, got[i], want[i], stream, uint64(i))
		if i > 0 && got[i].Position <= got[i-1].Position {
			t.Fatalf("stream %q: position %d at revision %d after %d", stream, got[i].Position, i, got[i-1].Position)
		}
	}
	return got
}

// ctxCanceled returns a context that is already canceled.
func ctxCanceled() context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	return ctx
}
