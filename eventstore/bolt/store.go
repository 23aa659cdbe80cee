package bolt

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sync"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/internal/live"
	"github.com/cyxwiz/central-server/eventstore/internal/rules"
	bbolt "go.etcd.io/bbolt"
)

// Store is an eventstore.Store in a bbolt file. It is safe for concurrent
// use; only one process may have the file open.
type Store struct {
	path string
	opts options
	db   *bbolt.DB

	// mu guards closed. Appenders hold it for reading while they enqueue,
	// readers while they read, so Close can wait for both.
	mu     sync.RWMutex
	closed bool

	queue      chan *appendReq
	writerDone chan struct{}
	head       uint64 // last committed position; owned by the writer
	counters   counters

	notifier *live.Notifier
	stop     chan struct{} // closed by Close to end subscriptions
	subs     sync.WaitGroup
}

var _ eventstore.Store = (*Store)(nil)

// queueLen is how many appends may wait for the writer before Append
// blocks.
const queueLen = 1024

// Open opens or creates the store in the file at path, creating its
// directory if needed.
func Open(path string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("bolt event store: %w", err)
	}
	db, err := bbolt.Open(path, 0o600, &bbolt.Options{
		Timeout:      o.lockTimeout,
		NoSync:       o.noSync,
		FreelistType: bbolt.FreelistMapType,
		// The freelist is written at each commit (a page or two: the log
		// is append-only, few pages are ever freed). Without it
		// (NoFreelistSync) bbolt rebuilds it at every open by walking and
		// checking every page of the file: with a cold page cache that
		// read the whole file, 12.5 s of a 13 s open of 236 MB
		// (BenchmarkOpenLarge, docs/benchmarks.md). A file written without
		// it gets it at its first open.
		NoFreelistSync: false,
	})
	if err != nil {
		return nil, fmt.Errorf("bolt event store: open %s: %w", path, err)
	}
	head, err := initFile(db)
	if err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("bolt event store: open %s: %w", path, err)
	}
	s := &Store{
		path:       path,
		opts:       o,
		db:         db,
		queue:      make(chan *appendReq, queueLen),
		writerDone: make(chan struct{}),
		head:       head,
		notifier:   live.NewNotifier(head),
		stop:       make(chan struct{}),
	}
	go s.writeLoop()
	return s, nil
}

// Path returns the file the store lives in.
func (s *Store) Path() string { return s.path }

// Append implements eventstore.Store. It returns once the transaction
// holding the events has been committed and synced. If ctx ends first,
// Append returns ctx.Err() and the append may or may not be recorded:
// retry it with the same event IDs to find out.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	ids, err := rules.Validate(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	r := newAppendReq(ctx, stream, expected, ids, events)
	if err := s.enqueue(ctx, r); err != nil {
		return eventstore.AppendResult{}, err
	}
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		return eventstore.AppendResult{}, ctx.Err()
	}
}

func (s *Store) enqueue(ctx context.Context, r *appendReq) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	select {
	case s.queue <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// SubscribeAll implements eventstore.Store. Subscribers read committed
// events from the file in batches, so a slow one holds no more than a
// batch in memory and never delays appends.
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
		Read: func(_ context.Context, after uint64, max int) (events []eventstore.RecordedEvent, err error) {
			err = s.db.View(func(tx *bbolt.Tx) error {
				events, err = readAll(context.Background(), tx, after, max)
				return err
			})
			return events, err
		},
		Stop:    s.stop,
		Running: &s.subs,
	}, after), nil
}

// Close commits the appends already queued, ends the subscriptions and
// closes the file.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return eventstore.ErrClosed
	}
	s.closed = true
	close(s.queue) // no appender is enqueueing: they hold s.mu.RLock to do so
	s.mu.Unlock()
	<-s.writerDone
	close(s.stop)
	s.subs.Wait()
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("bolt event store: close: %w", err)
	}
	return nil
}
