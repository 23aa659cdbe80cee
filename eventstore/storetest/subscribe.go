package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
)

// next returns the subscription's next message, failing after waitTimeout.
func next(t *testing.T, sub eventstore.Subscription) eventstore.Message {
	t.Helper()
	select {
	case m, ok := <-sub.C():
		if !ok {
			t.Fatalf("subscription ended early: %v", sub.Err())
		}
		return m
	case <-time.After(waitTimeout):
		t.Fatalf("no subscription message within %s", waitTimeout)
	}
	panic("unreachable")
}

// nextEvent returns the next message, which must be an event.
func nextEvent(t *testing.T, sub eventstore.Subscription) eventstore.RecordedEvent {
	t.Helper()
	m := next(t, sub)
	if m.Event == nil {
		t.Fatalf("got %+v, want an event", m)
	}
	return *m.Event
}

// waitEnd drains the subscription until C is closed and returns Err.
func waitEnd(t *testing.T, sub eventstore.Subscription) error {
	t.Helper()
	deadline := time.After(waitTimeout)
	for {
		select {
		case _, ok := <-sub.C():
			if !ok {
				return sub.Err()
			}
		case <-deadline:
			t.Fatalf("subscription still open %s after it should have ended", waitTimeout)
		}
	}
}

func subscribe(t *testing.T, st eventstore.Store, after uint64) eventstore.Subscription {
	t.Helper()
	sub, err := st.SubscribeAll(t.Context(), after)
	if err != nil {
		t.Fatalf("SubscribeAll(%d): %v", after, err)
	}
	t.Cleanup(func() { _ = sub.Close() })
	return sub
}

func testSubscribeFromStart(t *testing.T, s *suite)  { subscribeWhileWriting(t, s, false) }
func testSubscribeFromMiddle(t *testing.T, s *suite) { subscribeWhileWriting(t, s, true) }

// subscribeWhileWriting subscribes to a log longer than a catch-up batch
// while writers keep appending, and checks that every event arrives
// exactly once, in position order, with one CaughtUp after the events
// recorded before the subscription.
func subscribeWhileWriting(t *testing.T, s *suite, fromMiddle bool) {
	st := s.open(t)
	for i := range 3 {
		mustAppend(t, st, fmt.Sprintf("pre-%d", i), eventstore.NoStream(), newEvents("Pre", 200)...)
	}
	pre := mustReadAll(t, st, 0, 0)
	var after uint64
	if fromMiddle {
		after = pre[299].Position
	}
	preHead := pre[len(pre)-1].Position

	const writers, appends = 4, 25
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range appends {
				stream := fmt.Sprintf("live-%d", w)
				if _, err := st.Append(t.Context(), stream, eventstore.Any(), newEvents("Live", 2)...); err != nil {
					t.Errorf("Append(%q) #%d: %v", stream, i, err)
					return
				}
			}
		})
	}
	sub := subscribe(t, st, after)
	wg.Wait()
	if t.Failed() {
		return
	}
	want := mustReadAll(t, st, after, 0)

	caughtUp := 0
	for i := 0; i < len(want); {
		m := next(t, sub)
		if m.CaughtUp {
			caughtUp++
			if caughtUp > 1 {
				t.Fatal("second CaughtUp message")
			}
			delivered := after
			if i > 0 {
				delivered = want[i-1].Position
			}
			if delivered < preHead {
				t.Fatalf("CaughtUp after position %d, before %d which was recorded before subscribing", delivered, preHead)
			}
			continue
		}
		if m.Event == nil {
			t.Fatalf("message %+v has neither an event nor CaughtUp", m)
		}
		if m.Event.ID != want[i].ID || m.Event.Position != want[i].Position {
			t.Fatalf("event #%d: %s at position %d, want %s at %d", i, m.Event.ID, m.Event.Position, want[i].ID, want[i].Position)
		}
		i++
	}
	if caughtUp == 0 {
		if m := next(t, sub); !m.CaughtUp {
			t.Fatalf("after every event, got %+v, want CaughtUp", m)
		}
	}
	// Nothing stray follows: the next message is the next event.
	e := newEvent("After", 0)
	res := mustAppend(t, st, "after", eventstore.NoStream(), e)
	got := nextEvent(t, sub)
	checkEvent(t, got, e, "after", 0)
	if got.Position != res.Position {
		t.Fatalf("live event at position %d, append returned %d", got.Position, res.Position)
	}
}

func testSubscribeEmptyStore(t *testing.T, s *suite) {
	st := s.open(t)
	sub := subscribe(t, st, 0)
	if m := next(t, sub); !m.CaughtUp {
		t.Fatalf("empty store: first message %+v, want CaughtUp", m)
	}
	events := newEvents("E", 2)
	mustAppend(t, st, "s", eventstore.NoStream(), events...)
	for i := range events {
		checkEvent(t, nextEvent(t, sub), events[i], "s", uint64(i))
	}

	// From the head: CaughtUp at once, then only new events.
	res := mustAppend(t, st, "s", eventstore.Any(), newEvent("E", 3))
	sub2 := subscribe(t, st, res.Position)
	if m := next(t, sub2); !m.CaughtUp {
		t.Fatalf("subscription at the head: first message %+v, want CaughtUp", m)
	}
	e := newEvent("E", 4)
	mustAppend(t, st, "s", eventstore.Any(), e)
	checkEvent(t, nextEvent(t, sub2), e, "s", 3)
}

func testSubscriptionEnds(t *testing.T, s *suite) {
	st := s.open(t)
	mustAppend(t, st, "s", eventstore.NoStream(), newEvents("E", 3)...)

	closed := subscribe(t, st, 0)
	nextEvent(t, closed)
	if err := closed.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := waitEnd(t, closed); err != nil {
		t.Fatalf("closed subscription: Err %v, want nil", err)
	}

	ctx, cancel := context.WithCancel(t.Context())
	canceled, err := st.SubscribeAll(ctx, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer canceled.Close()
	cancel()
	if err := waitEnd(t, canceled); !errors.Is(err, context.Canceled) {
		t.Fatalf("subscription whose context ended: Err %v, want context.Canceled", err)
	}

	live := subscribe(t, st, 0)
	for range 3 {
		nextEvent(t, live)
	}
	if m := next(t, live); !m.CaughtUp {
		t.Fatalf("got %+v, want CaughtUp", m)
	}
	if err := st.Close(); err != nil {
		t.Fatalf("store Close: %v", err)
	}
	if err := waitEnd(t, live); err != nil {
		t.Fatalf("subscription of a closed store: Err %v, want nil", err)
	}
}

// testSlowSubscriber: a subscriber that does not read does not hold up
// appends, and still gets every event once it reads.
func testSlowSubscriber(t *testing.T, s *suite) {
	st := s.open(t)
	sub := subscribe(t, st, 0)
	const appends, each = 40, 50
	done := make(chan error, 1)
	go func() {
		for i := range appends {
			if _, err := st.Append(t.Context(), "slow", eventstore.Any(), newEvents("Slow", each)...); err != nil {
				done <- fmt.Errorf("append #%d: %w", i, err)
				return
			}
		}
		done <- nil
	}()
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(waitTimeout):
		t.Fatalf("appends blocked behind a subscriber that does not read")
	}
	var pos uint64
	for n := 0; n < appends*each; {
		m := next(t, sub)
		if m.CaughtUp {
			continue
		}
		if m.Event.Position <= pos || m.Event.Revision != uint64(n) {
			t.Fatalf("event #%d: revision %d at position %d after %d", n, m.Event.Revision, m.Event.Position, pos)
		}
		pos = m.Event.Position
		n++
	}
}
