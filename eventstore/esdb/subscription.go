package esdb

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/cyxwiz/central-server/eventstore"
)

// subscriptionBuffer is the capacity of a subscription's channel.
const subscriptionBuffer = 256

// Subscription is a catch-up subscription to $all that resubscribes from
// its checkpoint when the server drops it. It implements
// eventstore.Subscription.
type Subscription struct {
	s        *Store
	c        chan eventstore.Message
	done     chan struct{} // closed by Close
	finished chan struct{} // closed when the goroutine has exited
	close    sync.Once

	head       uint64 // head of $all when subscribing: the caught-up fallback
	checkpoint atomic.Uint64
	resubs     atomic.Int64
	caughtUp   bool

	mu  sync.Mutex
	err error
}

var _ eventstore.Subscription = (*Subscription)(nil)

// errStopped ends a subscription closed by its owner or by the store.
var errStopped = errors.New("subscription stopped")

// SubscribeAll implements eventstore.Store.
func (s *Store) SubscribeAll(ctx context.Context, after uint64) (eventstore.Subscription, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.begin(); err != nil {
		return nil, err
	}
	head, err := s.allHead(ctx)
	if err != nil {
		s.ops.Done()
		return nil, fmt.Errorf("esdb: subscribe to $all after %d: %w", after, err)
	}
	sub := &Subscription{
		s:        s,
		c:        make(chan eventstore.Message, subscriptionBuffer),
		done:     make(chan struct{}),
		finished: make(chan struct{}),
		head:     head,
	}
	sub.checkpoint.Store(after)
	s.subs.Add(1) // before ops.Done: Close cannot be past subs.Wait yet
	s.ops.Done()
	go func() {
		defer s.subs.Done()
		err := sub.run(ctx)
		if errors.Is(err, errStopped) {
			err = nil
		}
		sub.mu.Lock()
		sub.err = err
		sub.mu.Unlock()
		close(sub.c)
		close(sub.finished)
	}()
	return sub, nil
}

// C delivers the events, the caught-up signal and the live events.
func (sub *Subscription) C() <-chan eventstore.Message { return sub.c }

// Err returns the error that ended the subscription: nil while it runs and
// after Close or the store's Close, ctx.Err() if its context ended.
func (sub *Subscription) Err() error {
	sub.mu.Lock()
	defer sub.mu.Unlock()
	return sub.err
}

// Close ends the subscription and waits until C is closed.
func (sub *Subscription) Close() error {
	sub.close.Do(func() { close(sub.done) })
	<-sub.finished
	return nil
}

// Checkpoint returns the position of the last event the subscription has
// handled (delivered, or dropped as a system event): where it resumes
// after a drop.
func (sub *Subscription) Checkpoint() uint64 { return sub.checkpoint.Load() }

// Resubscriptions returns how many times the subscription resubscribed
// after the server dropped it.
func (sub *Subscription) Resubscriptions() int64 { return sub.resubs.Load() }

// stopped returns why the subscription must end, or nil.
func (sub *Subscription) stopped(ctx context.Context) error {
	select {
	case <-sub.done:
		return errStopped
	case <-sub.s.stop:
		return errStopped
	default:
	}
	return ctx.Err()
}

// wait pauses for d unless the subscription ends first.
func (sub *Subscription) wait(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-sub.done:
		return errStopped
	case <-sub.s.stop:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (sub *Subscription) send(ctx context.Context, m eventstore.Message) error {
	select {
	case sub.c <- m:
		return nil
	case <-sub.done:
		return errStopped
	case <-sub.s.stop:
		return errStopped
	case <-ctx.Done():
		return ctx.Err()
	}
}

// signalCaughtUp delivers CaughtUp once.
func (sub *Subscription) signalCaughtUp(ctx context.Context) error {
	if sub.caughtUp {
		return nil
	}
	sub.caughtUp = true
	return sub.send(ctx, eventstore.Message{CaughtUp: true})
}

// run subscribes, consumes, and resubscribes from the checkpoint after a
// drop, with exponential backoff, until the subscription ends.
func (sub *Subscription) run(ctx context.Context) error {
	log := sub.s.log
	backoff := sub.s.opts.backoffMin
	for attempt := 0; ; attempt++ {
		if attempt > 0 {
			if err := sub.wait(ctx, backoff); err != nil {
				return err
			}
			backoff = min(2*backoff, sub.s.opts.backoffMax)
			sub.resubs.Add(1)
		}
		progressed, err := sub.once(ctx)
		if stop := sub.stopped(ctx); stop != nil {
			return stop
		}
		if terminal(err) {
			return err
		}
		if progressed {
			backoff = sub.s.opts.backoffMin
		}
		log.Warn("subscription to $all dropped; resubscribing from its checkpoint",
			"checkpoint", sub.checkpoint.Load(), "backoff", backoff, "err", err)
	}
}

// terminal reports whether a subscription error is not worth a retry.
func terminal(err error) bool {
	if errors.Is(err, ErrUnsupportedPosition) {
		return true
	}
	var e *esdb.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case esdb.ErrorCodeUnauthenticated, esdb.ErrorCodeAccessDenied:
			return true
		}
	}
	return false
}

// filter is the server-side filter: no system event types, or, with a
// namespace, only the namespace's streams.
func (sub *Subscription) filter() *esdb.SubscriptionFilter {
	if ns := sub.s.opts.namespace; ns != "" {
		return &esdb.SubscriptionFilter{Type: esdb.StreamFilterType, Prefixes: []string{ns}}
	}
	return esdb.ExcludeSystemEventsFilter()
}

// once runs one server subscription from the checkpoint until it drops.
// progressed reports whether the server sent anything.
func (sub *Subscription) once(ctx context.Context) (progressed bool, err error) {
	subCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	go func() {
		select {
		case <-sub.done:
		case <-sub.s.stop:
		case <-subCtx.Done():
		}
		cancel()
	}()
	var from esdb.AllPosition = esdb.Start{}
	if cp := sub.checkpoint.Load(); cp > 0 {
		from = esdb.Position{Commit: cp, Prepare: cp}
	}
	var es *esdb.Subscription
	err = sub.s.do(subCtx, func(c *esdb.Client) (err error) {
		es, err = c.SubscribeToAll(subCtx, esdb.SubscribeToAllOptions{From: from, Filter: sub.filter()})
		return err
	})
	if err != nil {
		return false, sub.s.mapErr(subCtx, "subscribe to", "$all", err)
	}
	defer es.Close()
	if sub.checkpoint.Load() >= sub.head {
		if err := sub.signalCaughtUp(ctx); err != nil {
			return false, err
		}
	}
	for {
		m := es.Recv()
		switch {
		case m.SubscriptionDropped != nil:
			return progressed, m.SubscriptionDropped.Error
		case m.EventAppeared != nil:
			progressed = true
			if err := sub.deliver(ctx, m.EventAppeared.OriginalEvent()); err != nil {
				return progressed, err
			}
		case m.CheckPointReached != nil:
			progressed = true
			sub.s.log.Debug("subscription checkpoint from the server", "commit", m.CheckPointReached.Commit, "prepare", m.CheckPointReached.Prepare)
			if m.CheckPointReached.Commit > sub.head {
				if err := sub.signalCaughtUp(ctx); err != nil {
					return progressed, err
				}
			}
		case m.CaughtUp != nil:
			progressed = true
			if err := sub.signalCaughtUp(ctx); err != nil {
				return progressed, err
			}
		case m.FellBehind != nil:
			progressed = true
			sub.s.log.Debug("subscription fell behind the live log", "checkpoint", sub.checkpoint.Load())
		}
	}
}

// deliver hands one event to the subscriber, dropping duplicates (at or
// before the checkpoint, as a resubscription may repeat) and system or
// foreign events.
func (sub *Subscription) deliver(ctx context.Context, rec *esdb.RecordedEvent) error {
	pos := rec.Position.Commit
	if pos <= sub.checkpoint.Load() {
		return nil
	}
	stream, ok := sub.s.portStream(rec.StreamID)
	if !ok || strings.HasPrefix(rec.EventType, "$") {
		sub.checkpoint.Store(pos)
		if pos >= sub.head {
			return sub.signalCaughtUp(ctx)
		}
		return nil
	}
	e, err := sub.s.toRecorded(rec, stream)
	if err != nil {
		return err
	}
	if err := sub.send(ctx, eventstore.Message{Event: &e}); err != nil {
		return err
	}
	sub.checkpoint.Store(pos)
	if pos >= sub.head {
		return sub.signalCaughtUp(ctx)
	}
	return nil
}
