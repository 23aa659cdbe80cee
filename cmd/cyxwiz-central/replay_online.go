package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
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
	api = strings.TrimRight(api, "/")
	client := &http.Client{Timeout: 30 * time.Second}
	call := func(method string) (rest.RebuildStatus, error) {
		var st rest.RebuildStatus
		req, err := http.NewRequestWithContext(ctx, method, api+"/api/admin/rebuild", nil)
		if err != nil {
			return st, err
		}
		req.Header.Set("Authorization", "Bearer "+token)
		resp, err := client.Do(req)
		if err != nil {
			return st, fmt.Errorf("%s %s: %w", method, api, err)
		}
		defer resp.Body.Close()
		body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if err != nil {
			return st, err
		}
		if resp.StatusCode >= 300 {
			var e struct {
				Error struct{ Code, Message string } `json:"error"`
			}
			if json.Unmarshal(body, &e) == nil && e.Error.Message != "" {
				return st, fmt.Errorf("%s /api/admin/rebuild: %s: %s", method, resp.Status, e.Error.Message)
			}
			return st, fmt.Errorf("%s /api/admin/rebuild: %s", method, resp.Status)
		}
		return st, json.Unmarshal(body, &st)
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
