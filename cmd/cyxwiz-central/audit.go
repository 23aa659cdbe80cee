package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/bolt"
	"github.com/google/uuid"
)

// auditEntry is one event of a stream, as `audit --json` prints it.
type auditEntry struct {
	Position uint64          `json:"position"`
	Revision uint64          `json:"revision"`
	Time     time.Time       `json:"time"`
	Event    string          `json:"event"`
	Actor    string          `json:"actor,omitempty"`
	Corr     string          `json:"correlation_id,omitempty"`
	Cause    string          `json:"causation_id,omitempty"`
	Payload  json.RawMessage `json:"payload"`
}

// auditCmd prints a job's or a node's full history from the log:
//
//	cyxwiz-central audit job|node ID [--json] [--config PATH]
func auditCmd(args []string, stdout, stderr io.Writer) error {
	if len(args) < 2 || (args[0] != "job" && args[0] != "node") {
		return errors.New("usage: cyxwiz-central audit job|node ID [--json] [--config PATH]")
	}
	kind, id := args[0], args[1]
	fs := flag.NewFlagSet("audit", flag.ContinueOnError)
	fs.SetOutput(stderr)
	path := fs.String("config", "", "config file (default ./config.toml if present)")
	asJSON := fs.Bool("json", false, "print JSON for machines")
	if err := fs.Parse(args[2:]); err != nil {
		return err
	}
	if _, err := uuid.Parse(id); err != nil || len(id) != 36 {
		return fmt.Errorf("%s id %q is not a UUID", kind, id)
	}
	cfg, err := loadConfig(*path)
	if err != nil {
		return err
	}
	store, err := openLog(context.Background(), cfg, slog.New(slog.DiscardHandler), bolt.WithLockTimeout(2*time.Second))
	if err != nil {
		return fmt.Errorf("%w (with the embedded store: is the server running? it holds the file; stop it, or read /api/%ss/%s/events over REST)", err, kind, id)
	}
	defer store.Close()
	stream := domain.JobStream(id)
	if kind == "node" {
		stream = domain.NodeStream(id)
	}
	recs, err := store.ReadStream(context.Background(), stream, 0, 0)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return fmt.Errorf("no %s %s in %s", kind, id, logLocation(cfg))
	}
	if err != nil {
		return err
	}
	entries := make([]auditEntry, len(recs))
	for i, r := range recs {
		entries[i] = auditEntry{Position: r.Position, Revision: r.Revision, Time: r.Recorded.UTC(), Event: r.Type,
			Actor: r.Metadata.Actor, Corr: r.Metadata.CorrelationID, Cause: r.Metadata.CausationID, Payload: r.Data}
	}
	if *asJSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(entries)
	}
	return printAudit(stdout, kind, id, entries)
}

// printAudit prints one line per event: time, event, actor and the
// payload's key fields (ids and timestamps left out: they repeat).
func printAudit(w io.Writer, kind, id string, entries []auditEntry) error {
	codec := commands.NewCodec()
	fmt.Fprintf(w, "%s %s: %d events\n\n", kind, id, len(entries))
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "TIME\tEVENT\tACTOR\tDETAILS")
	for _, e := range entries {
		details := keyFields(e.Payload)
		if v, err := codec.Decode(e.Event, e.Payload); err == nil {
			if ev, ok := v.(domain.Event); ok {
				details = describe(ev) + details
			}
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", e.Time.Format("2006-01-02 15:04:05.000"), e.Event, e.Actor, details)
	}
	return tw.Flush()
}

// describe is a short human reading of the events whose payload alone says little.
func describe(e domain.Event) string {
	switch e := e.(type) {
	case domain.JobSubmitted:
		return fmt.Sprintf("%s %s job, priority %s, device %s; ", e.Owner, e.Spec.Type, e.Spec.Priority, e.Spec.RequiredDevice)
	case domain.NodeRegistered:
		return fmt.Sprintf("%q owned by %s at %s:%d; ", e.Spec.Name, e.Owner, e.Spec.IPAddress, e.Spec.Port)
	}
	return ""
}

// keyFields renders a payload's scalar fields as k=v, skipping ids and times.
func keyFields(payload json.RawMessage) string {
	var m map[string]any
	if json.Unmarshal(payload, &m) != nil {
		return string(payload)
	}
	keys := make([]string, 0, len(m))
	for k, v := range m {
		switch v.(type) {
		case map[string]any, []any:
			continue
		}
		if k == "at" || k == "job_id" || k == "node_id" {
			continue
		}
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, 0, len(keys))
	for _, k := range keys {
		parts = append(parts, fmt.Sprintf("%s=%v", k, m[k]))
	}
	return strings.Join(parts, " ")
}
