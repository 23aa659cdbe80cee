package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"

	"github.com/cyxwiz/central-server/eventstore"
)

// testReopen: a reopened store has every event, continues positions and
// revisions, and still recognises retried appends.
func testReopen(t *testing.T, s *suite) {
	if s.reopen == nil {
		t.Skip("store cannot reopen")
	}
	st := s.open(t)
	a, b := newEvents("A", 3), newEvents("B", 2)
	resA := mustAppend(t, st, "a", eventstore.NoStream(), a...)
	mustAppend(t, st, "b", eventstore.NoStream(), b...)
	before := mustReadAll(t, st, 0, 0)
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}

	st = s.reopen(t, st)
	t.Cleanup(func() { _ = st.Close() })
	after := mustReadAll(t, st, 0, 0)
	if len(after) != len(before) {
		t.Fatalf("reopened store has %d events, want %d", len(after), len(before))
	}
	for i := range before {
		x, y := before[i], after[i]
		if x.ID != y.ID || x.Type != y.Type || x.Stream != y.Stream || x.Revision != y.Revision ||
			x.Position != y.Position || !x.Recorded.Equal(y.Recorded) || string(x.Data) != string(y.Data) || x.Metadata != y.Metadata {
			t.Fatalf("event #%d changed across reopen:\n%+v\n%+v", i, x, y)
		}
	}
	if res, err := st.Append(t.Context(), "a", eventstore.NoStream(), a...); err != nil || res != resA {
		t.Fatalf("retry after reopen: %+v, %v; want %+v", res, err, resA)
	}
	c := newEvent("A", 3)
	res := mustAppend(t, st, "a", eventstore.Exact(2), c)
	if res.NextRevision != 3 || res.Position <= before[len(before)-1].Position {
		t.Fatalf("append after reopen: %+v; last position before was %d", res, before[len(before)-1].Position)
	}
	checkStream(t, st, "a", append(a, c))
	sub := subscribe(t, st, 0)
	for i := range len(before) + 1 {
		if e := nextEvent(t, sub); i < len(before) && e.ID != before[i].ID {
			t.Fatalf("subscription after reopen: event #%d is %s, want %s", i, e.ID, before[i].ID)
		}
	}
}

// testCloseWhileAppending: Close while appenders run; each append either
// succeeds or fails with ErrClosed, and every success survives a reopen.
func testCloseWhileAppending(t *testing.T, s *suite) {
	st := s.open(t)
	const appenders = 8
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		acked []string
		half  = make(chan struct{})
		once  sync.Once
	)
	for g := range appenders {
		wg.Go(func() {
			for i := 0; ; i++ {
				e := newEvent("Closing", i)
				_, err := st.Append(t.Context(), fmt.Sprintf("closing-%d", g), eventstore.Any(), e)
				if errors.Is(err, eventstore.ErrClosed) {
					return
				}
				if err != nil {
					t.Errorf("Append: %v, want success or ErrClosed", err)
					return
				}
				mu.Lock()
				acked = append(acked, e.ID)
				if len(acked) >= 40 {
					once.Do(func() { close(half) })
				}
				mu.Unlock()
			}
		})
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-half:
	case <-stopped:
		t.Fatal("appenders stopped before Close")
	}
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	if s.reopen == nil {
		return
	}
	st = s.reopen(t, st)
	t.Cleanup(func() { _ = st.Close() })
	recorded := map[string]bool{}
	for _, e := range mustReadAll(t, st, 0, 0) {
		recorded[e.ID] = true
	}
	for _, id := range acked {
		if !recorded[id] {
			t.Fatalf("acknowledged event %s is missing after reopen", id)
		}
	}
}

func testClosed(t *testing.T, s *suite) {
	st := s.open(t)
	mustAppend(t, st, "s", eventstore.NoStream(), newEvent("E", 0))
	if err := st.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	ctx := t.Context()
	_, err := st.Append(ctx, "s", eventstore.Any(), newEvent("E", 1))
	check := func(op string, err error) {
		t.Helper()
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("%s after Close: %v, want ErrClosed", op, err)
		}
	}
	check("Append", err)
	_, err = st.ReadStream(ctx, "s", 0, 0)
	check("ReadStream", err)
	_, err = st.ReadAll(ctx, 0, 0)
	check("ReadAll", err)
	_, err = st.SubscribeAll(ctx, 0)
	check("SubscribeAll", err)
	check("Close", st.Close())
}

func testContextCanceled(t *testing.T, s *suite) {
	st := s.open(t)
	ctx := ctxCanceled()
	if _, err := st.Append(ctx, "s", eventstore.Any(), newEvent("E", 0)); !errors.Is(err, context.Canceled) {
		t.Fatalf("Append: %v, want context.Canceled", err)
	}
	if _, err := st.ReadStream(t.Context(), "s", 0, 0); !errors.Is(err, eventstore.ErrStreamNotFound) {
		t.Fatalf("an append with a canceled context was recorded (ReadStream: %v)", err)
	}
	mustAppend(t, st, "s", eventstore.NoStream(), newEvent("E", 0))
	if _, err := st.ReadStream(ctx, "s", 0, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadStream: %v, want context.Canceled", err)
	}
	if _, err := st.ReadAll(ctx, 0, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("ReadAll: %v, want context.Canceled", err)
	}
	if _, err := st.SubscribeAll(ctx, 0); !errors.Is(err, context.Canceled) {
		t.Fatalf("SubscribeAll: %v, want context.Canceled", err)
	}
}
