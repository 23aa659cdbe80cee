package bolt

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/internal/rules"
	"github.com/google/uuid"
)

// TestCommitValidatesEachAppend commits one hand-made batch: each append
// is checked against the state left by the earlier ones, and the bad ones
// fail alone.
func TestCommitValidatesEachAppend(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "events.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	req := func(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) *appendReq {
		ids, err := rules.Validate(stream, events)
		if err != nil {
			t.Fatal(err)
		}
		return newAppendReq(ctx, stream, expected, ids, events)
	}
	ev := func() eventstore.EventData { return eventstore.EventData{ID: uuid.NewString(), Type: "E"} }
	canceled, cancel := context.WithCancel(t.Context())
	cancel()
	a1, a2 := ev(), ev()
	batch := []*appendReq{
		req(t.Context(), "a", eventstore.NoStream(), a1, a2),           // new stream: positions 1, 2
		req(t.Context(), "a", eventstore.NoStream(), ev()),             // a exists by now
		req(t.Context(), "a", eventstore.Exact(1), ev()),               // sees the first append: position 3
		req(canceled, "b", eventstore.Any(), ev()),                     // gave up before the commit
		req(t.Context(), "a", eventstore.NoStream(), a1, a2),           // retry of the first
		req(t.Context(), "a", eventstore.Any(), a2, ev()),              // half retry
		req(t.Context(), "c", eventstore.StreamExists(), ev()),         // c does not exist
		req(t.Context(), "c", eventstore.NoStream(), ev(), ev(), ev()), // positions 4..6
	}
	s.commit(batch) // as the writer would; it is idle, nothing is queued

	want := []struct {
		res eventstore.AppendResult
		err error
	}{
		{eventstore.AppendResult{NextRevision: 1, Position: 2}, nil},
		{err: eventstore.ErrWrongExpectedRevision},
		{eventstore.AppendResult{NextRevision: 2, Position: 3}, nil},
		{err: context.Canceled},
		{eventstore.AppendResult{NextRevision: 1, Position: 2}, nil},
		{err: eventstore.ErrDuplicateEventID},
		{err: eventstore.ErrWrongExpectedRevision},
		{eventstore.AppendResult{NextRevision: 2, Position: 6}, nil},
	}
	for i, r := range batch {
		<-r.done
		if !errors.Is(r.err, want[i].err) || (want[i].err == nil && r.err != nil) || r.res != want[i].res {
			t.Errorf("append %d: %+v, %v; want %+v, %v", i, r.res, r.err, want[i].res, want[i].err)
		}
	}
	if st := s.Stats(); st.Commits != 1 || st.Events != 6 || st.Appends != uint64(len(batch)) {
		t.Errorf("Stats = %+v", st)
	}
	verify(t, s)
}
