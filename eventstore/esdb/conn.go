package esdb

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/cyxwiz/central-server/eventstore"
)

// The v4 client runs one goroutine per client that hands out the gRPC
// connection; after a discovery that fails (the server down for longer
// than maxDiscoverAttempts × discoveryInterval), that goroutine exits for
// good: later calls fail with ErrorCodeConnectionClosed, and calls that
// were already queued behind the failing discovery block forever. So the
// adapter runs every client call in a goroutine of its own (do), replaces
// a client that reports its connection closed (renew), and then releases
// the callers still waiting on the dead one with ErrConnectionLost. A
// prober makes sure a dead client is noticed even when every caller is
// stuck.

// ErrConnectionLost: the client gave up on the server while the call was
// waiting; the store has a new client, and the call may be retried.
var ErrConnectionLost = errors.New("esdb: connection to EventStoreDB lost")

const (
	probeInterval = time.Second
	probeTimeout  = 10 * time.Second
	closeGrace    = 10 * time.Second // appends and reads in flight at Close
)

// conn is one client and its life.
type conn struct {
	client   *esdb.Client
	dead     chan struct{} // closed when the store gave this client up
	inflight sync.WaitGroup
}

func (c *conn) isDead() bool {
	select {
	case <-c.dead:
		return true
	default:
		return false
	}
}

func (s *Store) newConn() (*conn, error) {
	cfg := s.cfg
	client, err := esdb.NewClient(&cfg)
	if err != nil {
		return nil, fmt.Errorf("esdb: client for %s: %w", s.url, err)
	}
	return &conn{client: client, dead: make(chan struct{})}, nil
}

func (s *Store) cur() *conn {
	s.cmu.RLock()
	defer s.cmu.RUnlock()
	return s.conn
}

// do runs fn with the current client in a goroutine of its own and
// returns fn's error, or ErrConnectionLost if the client is given up
// meanwhile, or ErrClosed if Close gives up waiting, or ctx's error.
func (s *Store) do(ctx context.Context, fn func(*esdb.Client) error) error {
	cn := s.cur()
	if cn.isDead() {
		return fmt.Errorf("%w (reconnecting)", ErrConnectionLost)
	}
	cn.inflight.Add(1)
	done := make(chan error, 1)
	go func() {
		defer cn.inflight.Done()
		done <- fn(cn.client)
	}()
	result := func(err error) error {
		var e *esdb.Error
		switch {
		case err == nil:
			s.answered()
		case errors.As(err, &e) && e.Code() == esdb.ErrorCodeConnectionClosed:
			s.renew(cn)
		}
		return err
	}
	select {
	case err := <-done:
		return result(err)
	case <-cn.dead:
		return fmt.Errorf("%w: the client gave up while this call waited", ErrConnectionLost)
	case <-s.abort:
		return eventstore.ErrClosed
	case <-ctx.Done():
		select {
		case err := <-done: // finished as ctx ended: its outcome is known
			return result(err)
		default:
		}
		return ctx.Err()
	}
}

// renew gives up a client that reported its connection closed and
// releases the calls waiting on it. Unless the store is closing, a new
// client replaces it after a pause that grows while the outage lasts (the
// resubscribe backoff); meanwhile calls fail at once with
// ErrConnectionLost instead of queueing. The dead client is not closed: a
// call still queued on it would panic (send on a closed channel); it holds
// no connection any more.
func (s *Store) renew(dead *conn) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.conn != dead || dead.isDead() {
		return
	}
	close(dead.dead)
	select {
	case <-s.stop:
		return
	default:
	}
	delay := s.reconnectDelay
	if s.outage.CompareAndSwap(false, true) {
		s.log.Warn("EventStoreDB connection lost; reconnecting", "url", s.url)
		delay = 0
	} else {
		s.log.Debug("EventStoreDB still unreachable; reconnecting", "url", s.url, "after", delay)
	}
	s.reconnectDelay = min(max(2*s.reconnectDelay, s.opts.backoffMin), s.opts.backoffMax)
	time.AfterFunc(delay, func() { s.replace(dead) })
}

// replace installs a new client in place of the dead one.
func (s *Store) replace(dead *conn) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	select {
	case <-s.stop:
		return
	default:
	}
	if s.conn != dead {
		return
	}
	cn, err := s.newConn()
	if err != nil { // only an invalid configuration, which Open has checked
		s.log.Error("cannot renew the EventStoreDB client", "err", err)
		return
	}
	s.conn = cn
}

// answered notes that the server answered a call, ending an outage.
func (s *Store) answered() {
	if !s.outage.Load() {
		return
	}
	s.cmu.Lock()
	defer s.cmu.Unlock()
	if s.outage.CompareAndSwap(true, false) {
		s.reconnectDelay = 0
		s.log.Info("EventStoreDB connection restored", "url", s.url)
	}
}

// probe asks the client for the server's version every probeInterval, so
// that a client that gave up is renewed even if no call notices.
func (s *Store) probeLoop() {
	defer s.subs.Done()
	t := time.NewTicker(probeInterval)
	defer t.Stop()
	for {
		select {
		case <-s.stop:
			return
		case <-t.C:
		}
		ctx, cancel := context.WithTimeout(context.Background(), probeTimeout)
		_ = s.do(ctx, func(c *esdb.Client) error {
			_, err := c.GetServerVersion()
			return err
		})
		cancel()
	}
}

// closeConn closes the current client once the calls on it are done,
// unless it is dead or they do not finish within closeGrace.
func (s *Store) closeConn() error {
	cn := s.cur()
	if cn.isDead() {
		return nil
	}
	finished := make(chan struct{})
	go func() { cn.inflight.Wait(); close(finished) }()
	select {
	case <-finished:
		return cn.client.Close()
	case <-time.After(closeGrace):
		s.log.Warn("EventStoreDB calls still running at close; leaving the client to the process's exit")
		return nil
	}
}
