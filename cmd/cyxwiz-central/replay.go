package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/postgres"
	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/bolt"
	"github.com/cyxwiz/central-server/projections"
	"github.com/jackc/pgx/v5"
)

// errDifferences is returned by `replay --verify` when the rebuilt read
// models differ from the live ones (exit status 1).
var errDifferences = errors.New("the rebuilt read models differ from the live ones")

// replayCmd rebuilds the PostgreSQL read models from position 0 into a
// fresh schema beside the live one:
//
//	cyxwiz-central replay [--projection readmodel] [--verify] [--keep] [--config PATH]
//	cyxwiz-central replay --online [--api URL] [--token T]
//
// --verify compares the rebuild with the live read models, prints every
// difference and exits 1 if there is any; the rebuild is then dropped
// unless --keep. Without --verify the rebuild is kept and its schema named,
// to be switched to with database.schema. --online asks the running
// server to rebuild while it serves (POST /api/admin/rebuild) and follows
// its progress until the rebuild is swapped in.
func replayCmd(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("replay", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default ./config.toml if present)")
	projection := fs.String("projection", postgres.DefaultName, "projection to rebuild (the read models are one projection: "+postgres.DefaultName+")")
	verify := fs.Bool("verify", false, "compare the rebuild with the live read models; exit 1 on any difference")
	keep := fs.Bool("keep", false, "with --verify: keep the rebuilt schema")
	online := fs.Bool("online", false, "rebuild inside the running server at --api, which goes on serving and swaps the rebuild in once caught up")
	api := fs.String("api", "http://127.0.0.1:8080", "with --online: the server's REST address")
	token := fs.String("token", "", "with --online: a token whose role is admin (default $CYXWIZ_TOKEN)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *projection != postgres.DefaultName {
		return fmt.Errorf("--projection %q: the only projection is %q", *projection, postgres.DefaultName)
	}
	if *online {
		if *verify || *keep {
			return errors.New("--online swaps the rebuild in; --verify and --keep are for a rebuild beside a stopped server")
		}
		ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
		defer stop()
		return replayOnline(ctx, *api, cmp.Or(*token, os.Getenv("CYXWIZ_TOKEN")), time.Second, stdout)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	if cfg.Database.InMemory() {
		return errors.New("replay rebuilds PostgreSQL read models, and database.url is empty: in-memory read models are rebuilt by replay at every start")
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()

	store, err := openLog(ctx, cfg, slog.New(slog.DiscardHandler), bolt.WithLockTimeout(2*time.Second))
	if err != nil {
		return fmt.Errorf("%w (with the embedded store: is the server running? it holds the file; stop it first, or use --online)", err)
	}
	defer store.Close()

	schema := fmt.Sprintf("%s_replay_%d", cmp.Or(cfg.Database.Schema, "readmodel"), time.Now().Unix())
	fresh, err := postgres.Open(ctx, cfg.Database.URL, postgres.Options{Schema: schema, AsyncCommit: true, MaxJobsPerNode: cfg.Scheduler.MaxJobsPerNode})
	if err != nil {
		return fmt.Errorf("create %s: %w", schema, err)
	}
	defer fresh.Close()
	fmt.Fprintf(stdout, "rebuilding into schema %s\n", schema)
	if err := rebuild(ctx, store, fresh, stdout); err != nil {
		return err
	}
	if !*verify {
		fmt.Fprintf(stdout, "rebuilt; to serve from it, set database.schema = %q (or CYXWIZ_DATABASE_SCHEMA) and restart\n", schema)
		return nil
	}
	if !*keep {
		defer dropSchema(cfg, schema, stderr)
	}
	live, err := postgres.Open(ctx, cfg.Database.URL, postgres.Options{Schema: cfg.Database.Schema, SkipMigrate: true, MaxJobsPerNode: cfg.Scheduler.MaxJobsPerNode})
	if err != nil {
		return fmt.Errorf("open the live read models: %w", err)
	}
	defer live.Close()
	diffs, err := postgres.Diff(ctx, live, fresh)
	if err != nil {
		return err
	}
	if len(diffs) == 0 {
		fmt.Fprintln(stdout, "verified: the live read models equal a replay from position 0")
		return nil
	}
	for _, d := range diffs {
		fmt.Fprintln(stdout, d)
	}
	return fmt.Errorf("%w: %d differences", errDifferences, len(diffs))
}

// rebuild replays the whole log into model and reports progress (rate and
// ETA) every second.
func rebuild(ctx context.Context, store eventstore.Store, model *postgres.Model, out io.Writer) error {
	head, err := logHead(ctx, store)
	if err != nil {
		// Only the progress needs it: go on without an ETA.
		fmt.Fprintf(out, "  (the log's end is unknown, so no ETA: %v)\n", err)
		head = 0
	}
	runner := projections.NewRunner(store, commands.NewCodec(), model, slog.New(slog.DiscardHandler), projections.WithBatchSize(2048))
	runCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() { done <- runner.Run(runCtx) }()
	start := time.Now()
	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-runner.CaughtUp():
			took := time.Since(start)
			fmt.Fprintf(out, "replayed %d events in %s (%.0f events/s)\n", runner.Position(), took.Round(time.Millisecond),
				float64(runner.Position())/max(took.Seconds(), 1e-9))
			cancel()
			<-done
			return nil
		case err := <-done:
			return fmt.Errorf("replay stopped: %w", err)
		case <-tick.C:
			pos := runner.Position()
			rate := float64(pos) / time.Since(start).Seconds()
			eta := "?"
			if rate > 0 && head >= pos {
				eta = (time.Duration(float64(head-pos)/rate) * time.Second).Round(time.Second).String()
			}
			if head == 0 {
				fmt.Fprintf(out, "  %d events, %.0f events/s\n", pos, rate)
				continue
			}
			fmt.Fprintf(out, "  %d / %d events, %.0f events/s, ETA %s\n", pos, head, rate, eta)
		}
	}
}

// logHead finds the last global position by bisection on ReadAll (the
// events after a position), which holds for sparse positions too; an
// EventStoreDB server may refuse a probe that falls between events.
func logHead(ctx context.Context, store eventstore.Store) (uint64, error) {
	lo, hi := uint64(0), uint64(1)
	for {
		evs, err := store.ReadAll(ctx, hi-1, 1)
		if err != nil {
			return 0, err
		}
		if len(evs) == 0 {
			break
		}
		lo, hi = hi, hi*2
	}
	for lo+1 < hi { // position lo exists, hi does not
		mid := lo + (hi-lo)/2
		evs, err := store.ReadAll(ctx, mid-1, 1)
		if err != nil {
			return 0, err
		}
		if len(evs) > 0 {
			lo = mid
		} else {
			hi = mid
		}
	}
	return lo, nil
}

func dropSchema(cfg config.Config, schema string, stderr io.Writer) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, cfg.Database.URL)
	if err == nil {
		_, err = conn.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
		conn.Close(ctx)
	}
	if err != nil {
		fmt.Fprintf(stderr, "drop schema %s: %v\n", schema, err)
	}
}
