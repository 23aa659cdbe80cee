package live

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
)

// fakeLog is a fake store: events at positions 1..len.
type fakeLog struct {
	mu     sync.Mutex
	events []eventstore.RecordedEvent
	fail   error
}

func (l *fakeLog) read(_ context.Context, after uint64, max int) ([]eventstore.RecordedEvent, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.fail != nil {
		return nil, l.fail
	}
	if after >= uint64(len(l.events)) {
		return nil, nil
	}
	out := l.events[after:]
	return append([]eventstore.RecordedEvent(nil), out[:min(max, len(out))]...), nil
}

func (l *fakeLog) append(n *Notifier, count int) {
	l.mu.Lock()
	for range count {
		l.events = append(l.events, eventstore.RecordedEvent{Position: uint64(len(l.events)) + 1})
	}
	head := uint64(len(l.events))
	l.mu.Unlock()
	n.Publish(head)
}

func recv(t *testing.T, s *Subscription) (eventstore.Message, bool) {
	t.Helper()
	select {
	case m, ok := <-s.C():
		return m, ok
	case <-time.After(5 * time.Second):
		t.Fatal("timeout")
		return eventstore.Message{}, false
	}
}

func TestCatchUpThenLive(t *testing.T) {
	var l fakeLog
	n := NewNotifier(0)
	l.append(n, 10)
	var wg sync.WaitGroup
	stop := make(chan struct{})
	s := Subscribe(t.Context(), Source{Notifier: n, Read: l.read, Stop: stop, Running: &wg, Batch: 3}, 4)
	for want := uint64(5); want <= 10; want++ {
		if m, _ := recv(t, s); m.Event == nil || m.Event.Position != want {
			t.Fatalf("got %+v, want position %d", m, want)
		}
	}
	if m, _ := recv(t, s); !m.CaughtUp {
		t.Fatalf("got %+v, want CaughtUp", m)
	}
	l.append(n, 2)
	for want := uint64(11); want <= 12; want++ {
		if m, _ := recv(t, s); m.Event == nil || m.Event.Position != want {
			t.Fatalf("got %+v, want position %d", m, want)
		}
	}
	close(stop)
	if _, ok := recv(t, s); ok {
		t.Fatal("message after the store stopped")
	}
	wg.Wait()
	if s.Err() != nil {
		t.Fatalf("Err = %v after stop", s.Err())
	}
}

func TestReadErrorEndsSubscription(t *testing.T) {
	boom := errors.New("boom")
	l := fakeLog{fail: boom}
	n := NewNotifier(0)
	var wg sync.WaitGroup
	s := Subscribe(context.Background(), Source{Notifier: n, Read: l.read, Stop: make(chan struct{}), Running: &wg}, 0)
	if m, _ := recv(t, s); !m.CaughtUp {
		t.Fatalf("got %+v, want CaughtUp", m)
	}
	n.Publish(1)
	if _, ok := recv(t, s); ok {
		t.Fatal("message after a read error")
	}
	if !errors.Is(s.Err(), boom) {
		t.Fatalf("Err = %v, want boom", s.Err())
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	wg.Wait()
}
