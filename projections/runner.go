package projections

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
)

// Codec decodes log payloads into domain events (values, by event name).
// A codec of the write side (commands.Codec, Encode and Decode) satisfies
// it. It must be safe for concurrent use: a replay decodes in parallel.
type Codec interface {
	Decode(name string, data []byte) (any, error)
}

// ErrRunnerStopped is returned by WaitFor when the runner stopped before
// reaching the position.
var ErrRunnerStopped = errors.New("projection runner stopped")

// Runner feeds a ReadModel from the store's $all subscription: it resumes
// after the model's checkpoint, decodes events, applies them in batches
// and tracks the applied position for read-your-writes.
type Runner struct {
	store eventstore.Store
	codec Codec
	model ReadModel
	log   *slog.Logger

	batch      int
	workers    int
	minBackoff time.Duration
	maxBackoff time.Duration
	now        func() time.Time

	started  atomic.Bool
	caughtUp chan struct{}
	caught   sync.Once
	stopped  chan struct{}

	mu       sync.Mutex
	pos      uint64
	advanced chan struct{} // closed and replaced at every advance

	lastLag, maxLag atomic.Int64
	applied         atomic.Uint64
	skipped         atomic.Uint64
	restarts        atomic.Uint64
	skippedTypes    sync.Map // type name → struct{}: logged once at Warn
}

// RunnerOption configures a Runner.
type RunnerOption func(*Runner)

// WithBatchSize sets the most events applied in one batch (default 512).
func WithBatchSize(n int) RunnerOption {
	return func(r *Runner) {
		if n > 0 {
			r.batch = n
		}
	}
}

// WithDecodeWorkers sets how many goroutines decode a large batch (the
// replay's); default GOMAXPROCS. Live batches are small and decoded inline.
func WithDecodeWorkers(n int) RunnerOption {
	return func(r *Runner) {
		if n > 0 {
			r.workers = n
		}
	}
}

// WithBackoff sets the delays between resubscriptions after a failure:
// from min, doubling up to max (default 100 ms to 10 s).
func WithBackoff(min, max time.Duration) RunnerOption {
	return func(r *Runner) {
		if min > 0 && max >= min {
			r.minBackoff, r.maxBackoff = min, max
		}
	}
}

// WithClock sets the clock lag is measured with (default time.Now).
func WithClock(now func() time.Time) RunnerOption { return func(r *Runner) { r.now = now } }

// NewRunner returns a runner of model; log may be nil.
func NewRunner(store eventstore.Store, codec Codec, model ReadModel, log *slog.Logger, opts ...RunnerOption) *Runner {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Runner{
		store: store, codec: codec, model: model, log: log,
		batch: 512, workers: runtime.GOMAXPROCS(0), minBackoff: 100 * time.Millisecond, maxBackoff: 10 * time.Second, now: time.Now,
		caughtUp: make(chan struct{}), stopped: make(chan struct{}), advanced: make(chan struct{}),
	}
	for _, o := range opts {
		o(r)
	}
	r.pos = model.Checkpoint()
	return r
}

// Position returns the global position the model has applied.
func (r *Runner) Position() uint64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.pos
}

// CaughtUp is closed once the replay of the log as it was at start is
// applied and the runner follows live events. It stays open if Run
// returns first; select on Done as well.
func (r *Runner) CaughtUp() <-chan struct{} { return r.caughtUp }

// Done is closed when Run has returned.
func (r *Runner) Done() <-chan struct{} { return r.stopped }

// WaitFor returns once the model has applied position pos (an append's
// AppendResult.Position), so a caller reads its own writes. It returns
// ctx's error when ctx ends first, and ErrRunnerStopped when Run returned.
func (r *Runner) WaitFor(ctx context.Context, pos uint64) error {
	for {
		r.mu.Lock()
		cur, advanced := r.pos, r.advanced
		r.mu.Unlock()
		if cur >= pos {
			return nil
		}
		select {
		case <-advanced:
		case <-r.stopped:
			if r.Position() >= pos {
				return nil
			}
			return fmt.Errorf("wait for position %d (at %d): %w", pos, cur, ErrRunnerStopped)
		case <-ctx.Done():
			return fmt.Errorf("wait for position %d (at %d): %w", pos, cur, ctx.Err())
		}
	}
}

// RunnerStats are the runner's numbers, for metrics.
type RunnerStats struct {
	Position uint64
	CaughtUp bool
	// LastLag is the time from recording to applying of the last event
	// applied; MaxLag the largest since the runner caught up (the replay's
	// lag is the age of the log, not a delay).
	LastLag, MaxLag time.Duration
	Applied         uint64 // events applied
	Skipped         uint64 // events that did not decode
	Restarts        uint64 // subscriptions restarted after a failure
}

// Stats returns the runner's current numbers.
func (r *Runner) Stats() RunnerStats {
	caught := false
	select {
	case <-r.caughtUp:
		caught = true
	default:
	}
	return RunnerStats{
		Position: r.Position(), CaughtUp: caught,
		LastLag: time.Duration(r.lastLag.Load()), MaxLag: time.Duration(r.maxLag.Load()),
		Applied: r.applied.Load(), Skipped: r.skipped.Load(), Restarts: r.restarts.Load(),
	}
}

// Run subscribes and applies until ctx ends (it then returns nil) or the
// store is closed (an error wrapping eventstore.ErrClosed). A failed
// subscription or a failed Apply is retried with backoff, from the last
// applied position. Run may be called once.
func (r *Runner) Run(ctx context.Context) error {
	if !r.started.CompareAndSwap(false, true) {
		return errors.New("projection runner: Run called twice")
	}
	defer close(r.stopped)
	backoff := r.minBackoff
	for {
		progressed, err := r.follow(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if errors.Is(err, eventstore.ErrClosed) {
			return fmt.Errorf("projection runner: %w", err)
		}
		if progressed {
			backoff = r.minBackoff
		}
		r.restarts.Add(1)
		r.log.Warn("projections: restarting the subscription", "position", r.Position(), "err", err, "backoff", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(2*backoff, r.maxBackoff)
	}
}

// follow runs one subscription until it fails; progressed tells whether
// it applied anything.
func (r *Runner) follow(ctx context.Context) (progressed bool, err error) {
	sub, err := r.store.SubscribeAll(ctx, r.Position())
	if err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Close()
	c := sub.C()
	raw := make([]*eventstore.RecordedEvent, 0, r.batch)
	envs := make([]Envelope, r.batch)
	ok := make([]bool, r.batch)
	batch := make([]Envelope, 0, r.batch)
	for {
		var first eventstore.Message
		var open bool
		select {
		case first, open = <-c:
		case <-ctx.Done():
			return progressed, ctx.Err()
		}
		if !open {
			return progressed, r.ended(sub)
		}
		// Take what is already there, up to a batch; stop at the caught-up
		// signal so CaughtUp closes right after the replay is applied.
		raw = raw[:0]
		caughtUp, closed := first.CaughtUp, false
		if first.Event != nil {
			raw = append(raw, first.Event)
		}
	drain:
		for !caughtUp && len(raw) < r.batch {
			select {
			case m, open := <-c:
				if !open {
					closed = true
					break drain
				}
				if m.CaughtUp {
					caughtUp = true
				} else if m.Event != nil {
					raw = append(raw, m.Event)
				}
			default:
				break drain
			}
		}
		if n := len(raw); n > 0 && raw[n-1].Position > r.Position() {
			r.decodeAll(raw, envs, ok)
			batch = batch[:0]
			for i := range raw {
				if ok[i] {
					batch = append(batch, envs[i])
				}
			}
			checkpoint := raw[n-1].Position
			if err := r.model.Apply(ctx, batch, checkpoint); err != nil {
				return progressed, fmt.Errorf("apply events up to position %d: %w", checkpoint, err)
			}
			progressed = true
			r.advance(batch, checkpoint)
			clear(envs[:n]) // let the events go
		}
		if caughtUp {
			r.caught.Do(func() {
				r.log.Info("projections caught up", "position", r.Position())
				close(r.caughtUp)
			})
		}
		if closed {
			return progressed, r.ended(sub)
		}
	}
}

// decodeShare is the fewest events worth handing to a decode worker.
const decodeShare = 64

// decodeAll decodes raw into envs, ok[i] telling whether raw[i] decoded;
// large batches are split across the decode workers, in order.
func (r *Runner) decodeAll(raw []*eventstore.RecordedEvent, envs []Envelope, ok []bool) {
	workers := min(r.workers, len(raw)/decodeShare)
	if workers <= 1 {
		for i, rec := range raw {
			envs[i], ok[i] = r.decode(rec)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (len(raw) + workers - 1) / workers
	for lo := 0; lo < len(raw); lo += chunk {
		hi := min(lo+chunk, len(raw))
		wg.Go(func() {
			for i := lo; i < hi; i++ {
				envs[i], ok[i] = r.decode(raw[i])
			}
		})
	}
	wg.Wait()
}

// ended explains why a subscription's channel closed. Without an error
// (the store closed it, or an adapter dropped it quietly) Run subscribes
// again, and stops if the store reports ErrClosed.
func (r *Runner) ended(sub eventstore.Subscription) error {
	if err := sub.Err(); err != nil {
		return fmt.Errorf("subscription: %w", err)
	}
	return errors.New("subscription ended")
}

func (r *Runner) decode(rec *eventstore.RecordedEvent) (Envelope, bool) {
	v, err := r.codec.Decode(rec.Type, rec.Data)
	if err == nil {
		if e, ok := v.(domain.Event); ok {
			return Envelope{Event: e, Stream: rec.Stream, Revision: rec.Revision, Position: rec.Position,
				Recorded: rec.Recorded, Metadata: rec.Metadata}, true
		}
		err = fmt.Errorf("decoded %T, not a domain event", v)
	}
	r.skipped.Add(1)
	level := slog.LevelDebug
	if _, seen := r.skippedTypes.LoadOrStore(rec.Type, struct{}{}); !seen {
		level = slog.LevelWarn
	}
	r.log.Log(context.Background(), level, "projections skip an event they cannot decode",
		"type", rec.Type, "stream", rec.Stream, "position", rec.Position, "err", err)
	return Envelope{}, false
}

func (r *Runner) advance(batch []Envelope, checkpoint uint64) {
	if n := len(batch); n > 0 {
		r.applied.Add(uint64(n))
		lag := r.now().Sub(batch[n-1].Recorded)
		r.lastLag.Store(int64(lag))
		select {
		case <-r.caughtUp:
			for {
				cur := r.maxLag.Load()
				if int64(lag) <= cur || r.maxLag.CompareAndSwap(cur, int64(lag)) {
					break
				}
			}
		default:
		}
	}
	r.mu.Lock()
	r.pos = checkpoint
	close(r.advanced)
	r.advanced = make(chan struct{})
	r.mu.Unlock()
}
