package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/adapters/postgres"
	"github.com/cyxwiz/central-server/adapters/rest"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
)

// onlineRebuild rebuilds the PostgreSQL read models while the server
// serves (POST /api/admin/rebuild): a second runner replays the log from
// position 0 into a fresh schema beside the live one; once it has caught
// up, the live model adopts it (postgres.Model.Adopt) and the old tables
// are dropped. The live runner never stops; queries are answered from the
// live tables throughout, and from the rebuilt ones after the swap.
type onlineRebuild struct {
	store eventstore.Store
	live  *postgres.Model
	url   string
	opts  postgres.Options // the live model's
	now   func() time.Time
	log   *slog.Logger

	ctx    context.Context // cancelled by Close
	cancel context.CancelFunc

	mu      sync.Mutex
	st      rest.RebuildStatus
	runner  *projections.Runner // while running
	started time.Time
	done    chan struct{} // closed when the current rebuild ends
}

var _ rest.Rebuilder = (*onlineRebuild)(nil)

func newOnlineRebuild(store eventstore.Store, live *postgres.Model, url string, opts postgres.Options, now func() time.Time, log *slog.Logger) *onlineRebuild {
	ctx, cancel := context.WithCancel(context.Background())
	return &onlineRebuild{store: store, live: live, url: url, opts: opts, now: now, log: log, ctx: ctx, cancel: cancel,
		st: rest.RebuildStatus{State: rest.RebuildIdle}}
}

// Close stops a rebuild in progress (the live read models stay as they
// are, unless the swap had begun) and waits for it to end.
func (r *onlineRebuild) Close() {
	r.cancel()
	r.Wait()
}

// StartRebuild implements rest.Rebuilder.
func (r *onlineRebuild) StartRebuild(context.Context) (rest.RebuildStatus, error) {
	if r.live == nil {
		return rest.RebuildStatus{}, fmt.Errorf("%w: the read models are in memory and are rebuilt from the log at every start", rest.ErrRebuildUnsupported)
	}
	if r.live.Schema() == "" {
		return rest.RebuildStatus{}, fmt.Errorf("%w: set database.schema (the live tables are swapped by renaming their schema)", rest.ErrRebuildUnsupported)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.ctx.Err() != nil {
		return r.st, fmt.Errorf("%w: the server is stopping", rest.ErrRebuildUnsupported)
	}
	if r.st.State == rest.RebuildRunning || r.st.State == rest.RebuildSwapping {
		return r.st, fmt.Errorf("%w (into schema %s)", rest.ErrRebuildRunning, r.st.Schema)
	}
	now := r.now().UTC()
	r.started = time.Now()
	schema := fmt.Sprintf("%s_rebuild_%d", r.live.Schema(), now.Unix())
	if len(schema) > 63 {
		schema = fmt.Sprintf("rebuild_%d", now.UnixNano())
	}
	r.st = rest.RebuildStatus{State: rest.RebuildRunning, Schema: schema, StartedAt: &now}
	r.done = make(chan struct{})
	go r.run(schema, r.done)
	return r.st, nil
}

// RebuildStatus implements rest.Rebuilder.
func (r *onlineRebuild) RebuildStatus() rest.RebuildStatus {
	r.mu.Lock()
	defer r.mu.Unlock()
	st := r.st
	if st.State == rest.RebuildRunning && r.runner != nil {
		st.Position = r.runner.Position()
		if head, err := logHead(context.Background(), r.store); err == nil {
			st.Head = head
		}
		if secs := time.Since(r.started).Seconds(); secs > 0 {
			st.EventsPerSec = float64(st.Position) / secs
			if st.EventsPerSec > 0 && st.Head > st.Position {
				st.ETASeconds = float64(st.Head-st.Position) / st.EventsPerSec
			}
		}
	}
	return st
}

// Wait blocks until the current rebuild, if any, has ended.
func (r *onlineRebuild) Wait() {
	r.mu.Lock()
	done := r.done
	r.mu.Unlock()
	if done != nil {
		<-done
	}
}

func (r *onlineRebuild) run(schema string, done chan struct{}) {
	defer close(done)
	retired, at, err := r.rebuild(r.ctx, schema)
	ctx := context.WithoutCancel(r.ctx) // clean up even when stopping
	if err != nil {
		r.log.Error("online rebuild failed; the live read models are untouched", "schema", schema, "err", err)
		if derr := r.live.DropSchema(ctx, schema); derr != nil {
			r.log.Warn("drop the failed rebuild", "schema", schema, "err", derr)
		}
	}
	if retired != "" {
		if derr := r.live.DropSchema(ctx, retired); derr != nil {
			r.log.Warn("drop the retired read models", "schema", retired, "err", derr)
		}
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	finished := r.now().UTC()
	r.st.FinishedAt = &finished
	r.st.Retired, r.st.SwappedAt = retired, at
	if r.runner != nil {
		r.st.Position = r.runner.Position()
		r.st.Head = r.st.Position
		r.st.EventsPerSec = float64(r.st.Position) / max(time.Since(r.started).Seconds(), 1e-9)
		r.st.ETASeconds = 0
	}
	r.runner = nil
	if err != nil {
		r.st.State, r.st.Error = rest.RebuildFailed, err.Error()
		return
	}
	r.st.State = rest.RebuildDone
	r.log.Info("online rebuild swapped in", "events", r.st.Position, "events_per_second", int(r.st.EventsPerSec), "at", at)
}

// rebuild replays into schema until caught up, then has the live model
// adopt it. It returns the live schema's new name (to drop) and the live
// checkpoint at the swap.
func (r *onlineRebuild) rebuild(ctx context.Context, schema string) (retired string, at uint64, err error) {
	opts := r.opts
	opts.Schema, opts.AsyncCommit, opts.SkipMigrate = schema, true, false
	opts.Logger = r.log
	fresh, err := postgres.Open(ctx, r.url, opts)
	if err != nil {
		return "", 0, fmt.Errorf("create %s: %w", schema, err)
	}
	runner := projections.NewRunner(r.store, commands.NewCodec(), fresh, slog.New(slog.DiscardHandler), projections.WithBatchSize(2048))
	r.mu.Lock()
	r.runner = runner
	r.mu.Unlock()

	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	stopped := make(chan error, 1)
	go func() { stopped <- runner.Run(runCtx) }()
	select {
	case <-runner.CaughtUp():
	case err := <-stopped:
		fresh.Close()
		return "", 0, fmt.Errorf("replay into %s stopped: %w", schema, err)
	}
	r.mu.Lock()
	r.st.State = rest.RebuildSwapping
	r.mu.Unlock()

	// Under the live model's apply lock: let the rebuild reach the live
	// checkpoint (it follows the log, so it gets there), then stop it.
	catchUp := func(ctx context.Context, live uint64) error {
		at = live
		if err := runner.WaitFor(ctx, live); err != nil {
			return err
		}
		stop()
		if err := <-stopped; err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
		return nil
	}
	wctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	retired, err = r.live.Adopt(wctx, fresh, catchUp)
	return retired, at, err
}
