package main

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/eventstore/esdb"
	"github.com/cyxwiz/central-server/eventstore/esdb/esdbtest"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
)

// TestESDBBackend runs the server with [eventstore] backend = "esdb"
// against the in-process contract fake of EventStoreDB's gRPC API (not a
// real server; see esdbtest.ContractFake): the events land on the fake,
// nothing in data_dir, a job runs to completion, and a restart rebuilds
// the read model from the fake's log.
func TestESDBBackend(t *testing.T) {
	fake := esdbtest.NewContractFake(t)
	useESDB := func(c *config.Config) {
		c.EventStore.Backend = config.BackendESDB
		c.EventStore.ESDBURL = fake.URL()
	}
	dir := t.TempDir()
	s := startServer(t, dir, Settings{}, useESDB)
	if _, ok := s.app.store.(*esdb.Store); !ok {
		t.Fatalf("event store is %T, want *esdb.Store", s.app.store)
	}
	alice, jobID := runJobToCompletion(t, s)
	if raw := fake.Raw("job-" + jobID); len(raw) < 3 || raw[0].Type == "" {
		t.Fatalf("the job's stream on the server has %d events", len(raw))
	}
	if _, err := os.Stat(filepath.Join(dir, "events.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the embedded store was opened too: %v", err)
	}
	s.stop()

	s2 := startServer(t, dir, Settings{}, useESDB)
	if got := s2.jobStatus(alice, jobID).GetStatus().GetStatus(); got != pb.StatusCode_STATUS_COMPLETED {
		t.Fatalf("after a restart on the same server the job is %v", got)
	}

	// audit reads the same log, while the server runs (no file to hold).
	t.Setenv("CYXWIZ_EVENTSTORE_BACKEND", config.BackendESDB)
	t.Setenv("CYXWIZ_EVENTSTORE_ESDB_URL", fake.URL())
	t.Setenv("CYXWIZ_EVENTSTORE_DATA_DIR", dir)
	checkJobAudit(t, jobID)
}

// TestESDBBackendUnreachable: start-up fails, naming the key, when the
// server at esdb_url does not answer.
func TestESDBBackendUnreachable(t *testing.T) {
	fake := esdbtest.NewContractFake(t)
	url := fake.URL() + "&maxDiscoverAttempts=2"
	fake.Stop()
	cfg := testConfig(t.TempDir())
	cfg.EventStore.Backend = config.BackendESDB
	cfg.EventStore.ESDBURL = url
	app, err := NewApp(cfg, Settings{}, testLogger(t))
	if err != nil {
		t.Fatalf("NewApp: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	err = app.Start(ctx)
	if err == nil {
		app.Stop()
		t.Fatal("Start succeeded with no EventStoreDB")
	}
	if !errors.Is(err, esdb.ErrUnreachable) || !strings.Contains(err.Error(), "eventstore.esdb_url") || !strings.Contains(err.Error(), fake.Addr()) {
		t.Fatalf("Start: %v, want ErrUnreachable naming eventstore.esdb_url and the address", err)
	}
}
