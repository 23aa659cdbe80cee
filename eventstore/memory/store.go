// Package memory is an in-memory eventstore.Store with the same semantics
// as the embedded store, for fast unit tests. Nothing survives Close.
package memory

import (
	"bytes"
	"context"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/internal/live"
	"github.com/cyxwiz/central-server/eventstore/internal/rules"
	"github.com/google/uuid"
)

// streamID is an event ID within its stream: IDs are scoped to streams.
type streamID struct {
	stream string
	id     uuid.UUID
}

// Store is an in-memory event store. It is safe for concurrent use.
type Store struct {
	clock func() time.Time

	mu      sync.RWMutex
	closed  bool
	log     []eventstore.RecordedEvent // log[i] has position i+1
	streams map[string][]uint64        // stream → positions by revision
	ids     map[streamID]uint64        // event id in its stream → position

	notifier *live.Notifier
	stop     chan struct{}
	subs     sync.WaitGroup
}

var _ eventstore.Store = (*Store)(nil)

// Option configures a Store.
type Option func(*Store)

// WithClock sets the clock that stamps recorded events (default time.Now).
func WithClock(now func() time.Time) Option { return func(s *Store) { s.clock = now } }

// New returns an empty store.
func New(opts ...Option) *Store {
	s := &Store{
		clock:    time.Now,
		streams:  make(map[string][]uint64),
		ids:      make(map[streamID]uint64),
		notifier: live.NewNotifier(0),
		stop:     make(chan struct{}),
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	ids, err := rules.Validate(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return eventstore.AppendResult{}, eventstore.ErrClosed
	}
	res, retry, err := rules.Dedupe(stream, ids, func(i int) (rules.Location, bool, error) {
		pos, ok := s.ids[streamID{stream, ids[i]}]
		if !ok {
			return rules.Location{}, false, nil
		}
		e := &s.log[pos-1]
		return rules.Location{Stream: e.Stream, Revision: e.Revision, Position: pos}, true, nil
	})
	if err != nil || retry {
		return res, err
	}
	positions := s.streams[stream]
	var last uint64
	exists := len(positions) > 0
	if exists {
		last = uint64(len(positions)) - 1
	}
	if err := rules.CheckExpected(stream, expected, last, exists); err != nil {
		return eventstore.AppendResult{}, err
	}
	now := s.clock().UTC()
	for i, e := range events {
		pos := uint64(len(s.log)) + 1
		s.log = append(s.log, eventstore.RecordedEvent{
			ID:       ids[i].String(),
			Type:     e.Type,
			Stream:   stream,
			Revision: uint64(len(positions)),
			Position: pos,
			Recorded: now,
			Data:     clone(e.Data),
			Metadata: e.Metadata,
		})
		positions = append(positions, pos)
		s.ids[streamID{stream, ids[i]}] = pos
	}
	s.streams[stream] = positions
	head := uint64(len(s.log))
	s.notifier.Publish(head)
	return eventstore.AppendResult{NextRevision: uint64(len(positions)) - 1, Position: head}, nil
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	positions, ok := s.streams[stream]
	if !ok {
		return nil, eventstore.ErrStreamNotFound
	}
	if from >= uint64(len(positions)) {
		return []eventstore.RecordedEvent{}, nil
	}
	positions = positions[from:]
	if max > 0 && len(positions) > max {
		positions = positions[:max]
	}
	out := make([]eventstore.RecordedEvent, len(positions))
	for i, pos := range positions {
		out[i] = copyEvent(s.log[pos-1])
	}
	return out, nil
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after uint64, max int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	return s.readAll(after, max), nil
}

// readAll reads under s.mu.
func (s *Store) readAll(after uint64, max int) []eventstore.RecordedEvent {
	if after >= uint64(len(s.log)) {
		return []eventstore.RecordedEvent{}
	}
	events := s.log[after:]
	if max > 0 && len(events) > max {
		events = events[:max]
	}
	out := make([]eventstore.RecordedEvent, len(events))
	for i, e := range events {
		out[i] = copyEvent(e)
	}
	return out
}

// SubscribeAll implements eventstore.Store.
func (s *Store) SubscribeAll(ctx context.Context, after uint64) (eventstore.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return nil, eventstore.ErrClosed
	}
	return live.Subscribe(ctx, live.Source{
		Notifier: s.notifier,
		Read: func(_ context.Context, after uint64, max int) ([]eventstore.RecordedEvent, error) {
			s.mu.RLock()
			defer s.mu.RUnlock()
			return s.readAll(after, max), nil
		},
		Stop:    s.stop,
		Running: &s.subs,
	}, after), nil
}

// Close ends the subscriptions and drops the events.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return eventstore.ErrClosed
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	s.subs.Wait()
	s.mu.Lock()
	s.log, s.streams, s.ids = nil, nil, nil
	s.mu.Unlock()
	return nil
}

func copyEvent(e eventstore.RecordedEvent) eventstore.RecordedEvent {
	e.Data = clone(e.Data)
	return e
}

func clone(b []byte) []byte {
	if len(b) == 0 {
		return nil
	}
	return bytes.Clone(b)
}
