package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	pglog "github.com/cyxwiz/central-server/eventstore/postgres"
	"github.com/cyxwiz/central-server/eventstore/postgres/pgtest"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"github.com/jackc/pgx/v5"
)

// TestPostgresLogBackend runs the server with [eventstore] backend =
// "postgres", its URL taken from database.url, the read models in the same
// schema: a job runs to completion with its events in the log's
// schema, nothing in data_dir, a restart rebuilds the read model from
// that log, and audit reads it while the server runs.
func TestPostgresLogBackend(t *testing.T) {
	url := pgtest.URL(t)
	schema := pgtest.Schema(t, url)
	// The log and the read models share one database and one schema.
	usePG := func(c *config.Config) {
		c.EventStore.Backend = config.BackendPostgres
		c.EventStore.PostgresSchema = schema
		c.Database.URL, c.Database.Schema = url, schema
	}
	dir := t.TempDir()
	s := startServer(t, dir, Settings{}, usePG)
	if _, ok := s.app.store.(*pglog.Store); !ok {
		t.Fatalf("event store is %T, want *postgres.Store", s.app.store)
	}
	alice, jobID := runJobToCompletion(t, s)
	conn, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(context.Background())
	var n int
	var typ string
	err = conn.QueryRow(t.Context(), "SELECT count(*), max(type) FILTER (WHERE revision = 0) FROM "+
		pgx.Identifier{schema, "events"}.Sanitize()+" WHERE stream = $1", "job-"+jobID).Scan(&n, &typ)
	if err != nil || n < 3 || typ != "JobSubmitted" {
		t.Fatalf("the job's stream in SQL: %d events, first %q, %v", n, typ, err)
	}
	if _, err := os.Stat(filepath.Join(dir, "events.db")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("the embedded store was opened too: %v", err)
	}
	resp, err := http.Get("http://" + s.app.RESTAddr() + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, series := range []string{"cyxwiz_eventstore_delivery_wait_seconds ", "cyxwiz_eventstore_undelivered_positions "} {
		if !strings.Contains(string(body), series) {
			t.Fatalf("/metrics lacks %s", series)
		}
	}
	s.stop()

	s2 := startServer(t, dir, Settings{}, usePG)
	if got := s2.jobStatus(alice, jobID).GetStatus().GetStatus(); got != pb.StatusCode_STATUS_COMPLETED {
		t.Fatalf("after a restart on the same log the job is %v", got)
	}

	t.Setenv("CYXWIZ_EVENTSTORE_BACKEND", config.BackendPostgres)
	t.Setenv("CYXWIZ_DATABASE_URL", url)
	t.Setenv("CYXWIZ_EVENTSTORE_POSTGRES_SCHEMA", schema)
	t.Setenv("CYXWIZ_EVENTSTORE_DATA_DIR", dir)
	checkJobAudit(t, jobID)
}

// TestPostgresLogBackendStartErrors: start-up fails naming the key and the
// cause when the log's PostgreSQL is unreachable, refuses the role, or
// does not let it create the log's schema.
func TestPostgresLogBackendStartErrors(t *testing.T) {
	url := pgtest.URL(t)
	var b [4]byte
	_, _ = rand.Read(b[:])
	role := "estest_noprivs_" + hex.EncodeToString(b[:])
	admin, err := pgx.Connect(t.Context(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	if _, err := admin.Exec(t.Context(), "CREATE ROLE "+role+" LOGIN"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _, _ = admin.Exec(context.Background(), "DROP ROLE IF EXISTS "+role) })
	cfgURL, err := pgx.ParseConfig(url)
	if err != nil {
		t.Fatal(err)
	}
	as := func(user string) string {
		return fmt.Sprintf("postgres://%s@%s:%d/%s?sslmode=disable&connect_timeout=5", user, cfgURL.Host, cfgURL.Port, cfgURL.Database)
	}
	cases := []struct {
		name, url, viaDatabase, want string
	}{
		{"unreachable", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5", "", "unreachable"},
		{"wrong credentials", as("estest_no_such_role"), "", "wrong credentials"},
		{"missing privileges", as(role), "", "missing privileges"},
		{"from database.url", "", "postgres://postgres@127.0.0.1:1/test?sslmode=disable&connect_timeout=5", "unreachable"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			cfg := testConfig(t.TempDir())
			cfg.EventStore.Backend = config.BackendPostgres
			cfg.EventStore.PostgresURL = c.url
			cfg.EventStore.PostgresSchema = "estest_denied_" + hex.EncodeToString(b[:])
			key := "eventstore.postgres_url"
			if c.viaDatabase != "" {
				cfg.Database.URL, key = c.viaDatabase, "database.url"
			}
			app, err := NewApp(cfg, Settings{}, testLogger(t))
			if err != nil {
				t.Fatalf("NewApp: %v", err)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			err = app.Start(ctx)
			if err == nil {
				app.Stop()
				t.Fatal("Start succeeded")
			}
			t.Logf("Start: %v", err)
			if !strings.Contains(err.Error(), key) || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("Start: %v\nwant the key %s and %q", err, key, c.want)
			}
		})
	}
}

// runJobToCompletion registers a node, submits a job as alice, and has the
// node accept and complete it; it returns alice's token and the job.
func runJobToCompletion(t *testing.T, s *testServer) (alice, jobID string) {
	t.Helper()
	node, alice, jobID := s.jobOnNode(t)
	if _, err := s.status().ReportJobResult(as(node.session), &pb.ReportJobResultRequest{NodeId: node.id, JobId: jobID,
		FinalStatus: pb.StatusCode_STATUS_SUCCESS}); err != nil {
		t.Fatal(err)
	}
	eventually(t, 5*time.Second, "completed", func() bool {
		return s.jobStatus(alice, jobID).GetStatus().GetStatus() == pb.StatusCode_STATUS_COMPLETED
	})
	return alice, jobID
}

// checkJobAudit runs `audit job` on the configured log and checks the
// job's lifecycle is in its output.
func checkJobAudit(t *testing.T, jobID string) {
	t.Helper()
	var out, errOut bytes.Buffer
	if err := auditCmd([]string{"job", jobID}, &out, &errOut); err != nil {
		t.Fatalf("audit job: %v\n%s", err, errOut.String())
	}
	for _, want := range []string{"JobSubmitted", "JobAssigned", "JobCompleted"} {
		if !strings.Contains(out.String(), want) {
			t.Fatalf("audit output lacks %s:\n%s", want, out.String())
		}
	}
}
