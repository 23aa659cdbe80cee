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
// when the snapshot was taken.
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

// candidate is a horizon in waiting: every position up to issued is final
// once every transaction in running has ended.
type candidate struct {
	issued  uint64
	running []uint64
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

// tick reads the last issued position, then (in a later statement, so a
// later snapshot) the running transactions, and advances the horizon.
func (h *horizon) tick(ctx context.Context) error {
	issued, err := lastIssued(ctx, h.pool)
	if err != nil {
		return err
	}
	var text string
	if err := h.pool.QueryRow(ctx, `SELECT pg_current_snapshot()::text`).Scan(&text); err != nil {
		return err
	}
	sn, err := parseSnapshot(text)
	if err != nil {
		return err
	}
	h.notifier.Publish(h.advance(issued, sn, time.Now()))
	return nil
}

// advance applies one observation: issued was read before sn was taken.
// It returns the horizon.
func (h *horizon) advance(issued uint64, sn snapshot, now time.Time) uint64 {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.issued = max(h.issued, issued)
	// A later candidate resolving implies the earlier ones did: whatever
	// of theirs still ran when the later snapshot was taken is in its list.
	for i := len(h.pending) - 1; i >= 0; i-- {
		c := h.pending[i]
		if !slices.ContainsFunc(c.running, func(x uint64) bool { return !sn.ended(x) }) {
			h.pos = max(h.pos, c.issued)
			h.pending = slices.Delete(h.pending, 0, i+1)
			break
		}
	}
	switch {
	case issued <= h.pos:
	case len(sn.xip) == 0:
		h.pos, h.pending = issued, h.pending[:0]
	case len(h.pending) > 0 && h.pending[len(h.pending)-1].issued == issued:
		// Nothing handed out since: the older candidate waits for less.
	default:
		c := candidate{issued: issued, running: sn.xip, since: now}
		if len(h.pending) == maxCandidates {
			h.pending[len(h.pending)-1] = c
		} else {
			h.pending = append(h.pending, c)
		}
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
