package postgres

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/eventstore/internal/live"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
)

// snapshot is a parsed pg_snapshot: every transaction id below xmin has
// ended, none at or above xmax had started, and xip lists the ones in
// between still running.
type snapshot struct {
	xmin, xmax uint64
	xip        []uint64 // sorted
}

// parseSnapshot parses pg_snapshot's text form "xmin:xmax:xip,xip,…".
func parseSnapshot(text string) (snapshot, error) {
	parts := strings.Split(text, ":")
	if len(parts) != 3 {
		return snapshot{}, fmt.Errorf("snapshot %q: want xmin:xmax:xip", text)
	}
	var (
		sn  snapshot
		err error
	)
	if sn.xmin, err = strconv.ParseUint(parts[0], 10, 64); err != nil {
		return snapshot{}, fmt.Errorf("snapshot %q: %w", text, err)
	}
	if sn.xmax, err = strconv.ParseUint(parts[1], 10, 64); err != nil {
		return snapshot{}, fmt.Errorf("snapshot %q: %w", text, err)
	}
	if parts[2] != "" {
		for _, f := range strings.Split(parts[2], ",") {
			x, err := strconv.ParseUint(f, 10, 64)
			if err != nil {
				return snapshot{}, fmt.Errorf("snapshot %q: %w", text, err)
			}
			sn.xip = append(sn.xip, x)
		}
		slices.Sort(sn.xip)
	}
	return sn, nil
}

// ended reports whether transaction x had ended (committed or aborted)
// when the snapshot was taken. Ids at or above xmax may be running: xmax
// is one past the latest completed transaction, not the next id.
func (sn snapshot) ended(x uint64) bool {
	if x < sn.xmin {
		return true
	}
	if x >= sn.xmax {
		return false
	}
	_, running := slices.BinarySearch(sn.xip, x)
	return !running
}

// allEnded reports whether every id in [lo, hi) had ended.
func (sn snapshot) allEnded(lo, hi uint64) bool {
	lo = max(lo, sn.xmin)
	if lo >= hi {
		return true
	}
	if hi > sn.xmax {
		return false
	}
	i, _ := slices.BinarySearch(sn.xip, lo)
	return i == len(sn.xip) || sn.xip[i] >= hi
}

// candidate is a horizon in waiting: every position up to issued is final
// once the transactions that could hold one of them have ended: those in
// running, and every id in [lo, hi).
type candidate struct {
	issued  uint64
	running []uint64
	lo, hi  uint64
	since   time.Time
}

func (c candidate) resolvedBy(sn snapshot) bool {
	return sn.allEnded(c.lo, c.hi) && !slices.ContainsFunc(c.running, func(x uint64) bool { return !sn.ended(x) })
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
// handed out, then (in a later statement, so a later snapshot) the
// running transactions and an id of its own, assigned after both.
type observation struct {
	issued uint64
	sn     snapshot
	own    uint64
}

// tick observes the log in a transaction of its own (which takes a
// transaction id, so it commits without waiting for a flush) and
// advances the horizon.
func (h *horizon) tick(ctx context.Context) error {
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit = off")
	b.Queue(`SELECT coalesce(pg_sequence_last_value('positions'), 0)`)
	b.Queue(`SELECT pg_current_xact_id()::text, pg_current_snapshot()::text`)
	b.Queue("COMMIT")
	br := h.pool.SendBatch(ctx, b)
	var (
		obs           observation
		issued        int64
		own, snapText string
	)
	_, err := br.Exec()
	if err == nil {
		_, err = br.Exec()
	}
	if err == nil {
		err = br.QueryRow().Scan(&issued)
	}
	if err == nil {
		err = br.QueryRow().Scan(&own, &snapText)
	}
	if err == nil {
		_, err = br.Exec()
	}
	if cerr := br.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	obs.issued = uint64(issued)
	if obs.own, err = strconv.ParseUint(own, 10, 64); err != nil {
		return fmt.Errorf("transaction id %q: %w", own, err)
	}
	if obs.sn, err = parseSnapshot(snapText); err != nil {
		return err
	}
	h.notifier.Publish(h.advance(obs, time.Now()))
	return nil
}

// advance applies one observation and returns the horizon.
//
// Every transaction that took a position <= obs.issued took its id first,
// so before obs.own: at the snapshot it had ended, or it was running with
// an id in sn.xip or in [sn.xmax, own). Once all of those have ended,
// every such position is committed and visible, or never will be.
func (h *horizon) advance(obs observation, now time.Time) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.issued = max(h.issued, obs.issued)
	// A later candidate resolving implies the earlier ones did: whatever
	// of theirs still ran at the later snapshot is in its wait set.
	for i := len(h.pending) - 1; i >= 0; i-- {
		if h.pending[i].resolvedBy(obs.sn) {
			h.pos = max(h.pos, h.pending[i].issued)
			h.pending = slices.Delete(h.pending, 0, i+1)
			break
		}
	}
	c := candidate{issued: obs.issued, running: obs.sn.xip, lo: obs.sn.xmax, hi: obs.own, since: now}
	switch {
	case obs.issued <= h.pos:
	case len(c.running) == 0 && c.lo >= c.hi:
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

// catchUp ticks until the horizon covers every position handed out when
// it was called, and returns it.
func (h *horizon) catchUp(ctx context.Context) (uint64, error) {
	target, err := lastIssued(ctx, h.pool)
	if err != nil {
		return 0, err
	}
	for pause := time.Millisecond; ; pause = min(2*pause, 50*time.Millisecond) {
		if err := h.tick(ctx); err != nil {
			return 0, err
		}
		if pos := h.safe(); pos >= target {
			return pos, nil
		}
		select {
		case <-time.After(pause):
		case <-ctx.Done():
			return 0, ctx.Err()
		}
	}
}

// HorizonStats describes how far delivery trails the appends.
type HorizonStats struct {
	// Horizon is the last position subscribers and ReadAll may deliver.
	Horizon uint64
	// Issued is the last position handed out to an append (committed,
	// running or rolled back), as of the last tick.
	Issued uint64
	// Waiting is how long the oldest undelivered position has waited for
	// the transactions that were running when it was handed out: a
	// long-running transaction anywhere in the cluster shows here.
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
