package postgres

import (
	"context"
	"slices"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/eventstore/internal/live"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// candidate is a horizon in waiting: every position up to issued is final
// once every transaction in writers has ended.
type candidate struct {
	issued  uint64
	writers []string // virtual transaction ids
	since   time.Time
}

// maxCandidates bounds the candidates kept while a transaction stays
// open; dropping one only delays the horizon, never advances it early.
const maxCandidates = 64

// horizon tracks the delivery horizon: the greatest position p such that
// every event that will ever commit with a position <= p has committed
// and is visible. See the package doc for why this is sound.
type horizon struct {
	pool     *pgxpool.Pool
	notifier *live.Notifier
	wakeC    chan struct{}

	mu      sync.Mutex
	pos     uint64
	issued  uint64 // last position handed out, at the last tick
	pending []candidate
}

func newHorizon(pool *pgxpool.Pool) *horizon {
	return &horizon{pool: pool, notifier: live.NewNotifier(0), wakeC: make(chan struct{}, 1)}
}

// safe returns the horizon.
func (h *horizon) safe() uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.pos
}

// wake asks the tracker for a tick soon.
func (h *horizon) wake() {
	select {
	case h.wakeC <- struct{}{}:
	default:
	}
}

// lastIssued returns the last position the sequence handed out (0 when
// none). With CACHE 1, no later nextval can return a value below it.
func lastIssued(ctx context.Context, pool *pgxpool.Pool) (uint64, error) {
	var last int64
	err := pool.QueryRow(ctx, `SELECT coalesce(pg_sequence_last_value('positions'), 0)`).Scan(&last)
	return uint64(last), err
}

// observation is what one tick reads, in this order: the last position
// handed out, then the transactions writing the log (holding ROW
// EXCLUSIVE on events, which append_events takes before any position).
type observation struct {
	issued  uint64
	writers []string
}

// writersSQL lists the transactions writing the log, by virtual
// transaction id (which every transaction has, with or without a
// transaction id, and no later one reuses soon). Readers, pg_dump
// included, hold only ACCESS SHARE and are not waited for.
const writersSQL = `SELECT coalesce(array_agg(DISTINCT virtualtransaction), '{}') FROM pg_locks
	WHERE locktype = 'relation' AND relation = 'events'::regclass AND mode = 'RowExclusiveLock'
	AND database = (SELECT oid FROM pg_database WHERE datname = current_database())`

// tick observes the log (one round trip, two statements in order) and
// advances the horizon.
func (h *horizon) tick(ctx context.Context) error {
	b := &pgx.Batch{}
	b.Queue(`SELECT coalesce(pg_sequence_last_value('positions'), 0)`)
	b.Queue(writersSQL)
	br := h.pool.SendBatch(ctx, b)
	var (
		issued  int64
		writers []string
	)
	err := br.QueryRow().Scan(&issued)
	if err == nil {
		err = br.QueryRow().Scan(&writers)
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	h.notifier.Publish(h.advance(observation{issued: uint64(issued), writers: writers}, time.Now()))
	return nil
}

// advance applies one observation and returns the horizon.
//
// Every transaction that took a position <= obs.issued took ROW EXCLUSIVE
// on events first, and keeps it until it ends: if it was still running
// when the writers were listed, it is among them. Once all of those have
// ended, every such position is committed and visible, or never will be.
func (h *horizon) advance(obs observation, now time.Time) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.issued = max(h.issued, obs.issued)
	running := func(vx string) bool { return slices.Contains(obs.writers, vx) }
	// A later candidate resolving implies the earlier ones did: whatever
	// of theirs still ran when the later one was listed is in its list.
	for i := len(h.pending) - 1; i >= 0; i-- {
		if !slices.ContainsFunc(h.pending[i].writers, running) {
			h.pos = max(h.pos, h.pending[i].issued)
			h.pending = slices.Delete(h.pending, 0, i+1)
			break
		}
	}
	c := candidate{issued: obs.issued, writers: obs.writers, since: now}
	switch {
	case obs.issued <= h.pos:
	case len(c.writers) == 0:
		h.pos, h.pending = obs.issued, h.pending[:0]
	case len(h.pending) > 0 && h.pending[len(h.pending)-1].issued == obs.issued:
		// Nothing handed out since: the older candidate waits for less.
	case len(h.pending) == maxCandidates:
		h.pending[len(h.pending)-1] = c
	default:
		h.pending = append(h.pending, c)
	}
	return h.pos
}

// HorizonStats describes how far delivery trails the appends.
type HorizonStats struct {
	// Horizon is the last position subscribers and ReadAll may deliver.
	Horizon uint64
	// Issued is the last position handed out to an append (committed,
	// running or rolled back), as of the last tick.
	Issued uint64
	// Waiting is how long the oldest undelivered position has waited for
	// the appends that were running when it was handed out: a long
	// transaction writing the log shows here.
	Waiting time.Duration
}

// Stats returns the delivery horizon's state.
func (h *horizon) stats(now time.Time) HorizonStats {
	h.mu.Lock()
	defer h.mu.Unlock()
	st := HorizonStats{Horizon: h.pos, Issued: max(h.issued, h.pos)}
	if len(h.pending) > 0 {
		st.Waiting = now.Sub(h.pending[0].since)
	}
	return st
}
