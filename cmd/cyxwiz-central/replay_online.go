package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"time"

	"github.com/cyxwiz/central-server/adapters/rest"
)

// errRebuildFailed is returned by `replay --online` when the server's
// rebuild failed (exit status 1; the live read models are untouched).
var errRebuildFailed = errors.New("the online rebuild failed")

// replayOnline starts a rebuild in the server at api and prints its
// progress every interval until it is swapped in or fails.
func replayOnline(ctx context.Context, api, token string, interval time.Duration, out io.Writer) error {
	if token == "" {
		return errors.New("--online needs --token (or CYXWIZ_TOKEN): a token whose role is admin, from `cyxwiz-central token --sub NAME --role admin`")
	}
	call := func(method string) (rest.RebuildStatus, error) {
		var st rest.RebuildStatus
		err := adminCall(ctx, api, token, method, "/api/admin/rebuild", nil, &st)
		return st, err
	}
	st, err := call(http.MethodPost)
	if err != nil {
		return err
	}
	fmt.Fprintf(out, "rebuilding into schema %s while the server serves\n", st.Schema)
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("stopped following the rebuild (it goes on in the server): %w", ctx.Err())
		case <-tick.C:
		}
		if st, err = call(http.MethodGet); err != nil {
			return err
		}
		switch st.State {
		case rest.RebuildDone:
			fmt.Fprintf(out, "replayed %d events (%.0f events/s); swapped in at position %d\n", st.Position, st.EventsPerSec, st.SwappedAt)
			return nil
		case rest.RebuildFailed:
			return fmt.Errorf("%w: %s", errRebuildFailed, st.Error)
		case rest.RebuildSwapping:
			fmt.Fprintf(out, "  caught up at %d events; swapping in\n", st.Position)
		default:
			fmt.Fprintf(out, "  %d / %d events, %.0f events/s, ETA %s\n", st.Position, st.Head, st.EventsPerSec,
				(time.Duration(st.ETASeconds) * time.Second).Round(time.Second))
		}
	}
}
