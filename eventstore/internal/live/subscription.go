package live

import (
	"context"
	"errors"
	"sync"

	"github.com/cyxwiz/central-server/eventstore"
)

// ReadFunc returns up to max committed events with a position greater
// than after, in position order. ctx ends when the subscription does, so
// a store may retry a failing read until then.
type ReadFunc func(ctx context.Context, after uint64, max int) ([]eventstore.RecordedEvent, error)

// Source is what a store provides to its subscriptions.
type Source struct {
	Notifier *Notifier
	Read     ReadFunc
	// Stop is closed when the store closes; subscriptions then end with a
	// nil error.
	Stop <-chan struct{}
	// Running counts the subscriptions' goroutines, so the store can wait
	// for them before releasing what Read uses.
	Running *sync.WaitGroup
	// Batch is the number of events read at a time (default 256).
	Batch int
}

// Subscription is a running eventstore.Subscription.
type Subscription struct {
	c        chan eventstore.Message
	done     chan struct{} // closed by Close
	finished chan struct{} // closed when the goroutine has exited
	close    sync.Once

	mu  sync.Mutex
	err error
}

var _ eventstore.Subscription = (*Subscription)(nil)

// Subscribe starts delivering events after position after. The caller
// must hold whatever guarantees that src.Running.Wait has not started.
func Subscribe(ctx context.Context, src Source, after uint64) *Subscription {
	batch := src.Batch
	if batch <= 0 {
		batch = 256
	}
	s := &Subscription{
		c:        make(chan eventstore.Message, batch),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
	}
	src.Running.Add(1)
	go func() {
		defer src.Running.Done()
		err := s.run(ctx, src, after, batch)
		s.mu.Lock()
		s.err = err
		s.mu.Unlock()
		close(s.c)
		close(s.finished)
	}()
	return s
}

// C delivers the events, the caught-up signal and the live events.
func (s *Subscription) C() <-chan eventstore.Message { return s.c }

// Err returns the error that ended the subscription: nil while it runs and
// after Close or the store's Close, ctx.Err() if its context ended.
func (s *Subscription) Err() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.err
}

// Close ends the subscription and waits until C is closed.
func (s *Subscription) Close() error {
	s.close.Do(func() { close(s.done) })
	<-s.finished
	return nil
}

// errStopped ends a subscription closed by its owner or by the store; Err
// then reports nil.
var errStopped = errors.New("subscription stopped")

func (s *Subscription) run(ctx context.Context, src Source, cursor uint64, batch int) error {
	// Reads end with the subscription, however it ends.
	readCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-s.done:
		case <-src.Stop:
		case <-readCtx.Done():
		}
		cancel()
	}()
	err := s.loop(ctx, readCtx, src, cursor, batch)
	if errors.Is(err, errStopped) {
		return nil
	}
	return err
}

func (s *Subscription) loop(ctx, readCtx context.Context, src Source, cursor uint64, batch int) error {
	caughtUp := false
	for {
		head, changed := src.Notifier.Head()
		for cursor < head {
			if err := s.alive(ctx, src); err != nil {
				return err
			}
			events, err := src.Read(readCtx, cursor, batch)
			if err != nil {
				if stopped := s.stopped(ctx, src); stopped != nil {
					return stopped
				}
				return err
			}
			if len(events) == 0 {
				break // nothing readable yet; wait for the next head
			}
			for i := range events {
				if err := s.send(ctx, src, eventstore.Message{Event: &events[i]}); err != nil {
					return err
				}
			}
			cursor = events[len(events)-1].Position
		}
		if !caughtUp {
			if err := s.send(ctx, src, eventstore.Message{CaughtUp: true}); err != nil {
				return err
			}
			caughtUp = true
		}
		select {
		case <-changed:
		case <-s.done:
			return errStopped
		case <-src.Stop:
			return errStopped
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

// stopped is alive's answer once a read failed, preferring the owner's
// Close and the store's to the context, which the read saw end first.
func (s *Subscription) stopped(ctx context.Context, src Source) error {
	select {
	case <-s.done:
		return errStopped
	case <-src.Stop:
		return errStopped
	default:
		return ctx.Err()
	}
}

func (s *Subscription) alive(ctx context.Context, src Source) error {
	select {
	case <-s.done:
		return errStopped
	case <-src.Stop:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	default:
		return nil
	}
}

func (s *Subscription) send(ctx context.Context, src Source, m eventstore.Message) error {
	select {
	case s.c <- m:
		return nil
	case <-s.done:
		return errStopped
	case <-src.Stop:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}
