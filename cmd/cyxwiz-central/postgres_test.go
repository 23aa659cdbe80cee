package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"os"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/config"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"github.com/jackc/pgx/v5"
)

// postgresSchema returns the test PostgreSQL URL and a fresh schema dropped
// at the end; it skips loudly without PostgreSQL, and fails under CI=true.
func postgresSchema(t *testing.T) (string, string) {
	t.Helper()
	url := os.Getenv("CYXWIZ_TEST_POSTGRES_URL")
	if url == "" {
		url = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err == nil {
		err = conn.Ping(ctx)
	}
	if err != nil {
		msg := "POSTGRESQL UNREACHABLE at " + url + " (set CYXWIZ_TEST_POSTGRES_URL): " + err.Error() + " — this test did NOT run"
		if os.Getenv("CI") == "true" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	conn.Close(ctx)
	var b [6]byte
	rand.Read(b[:])
	schema := "e2e_" + hex.EncodeToString(b[:])
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if c, err := pgx.Connect(ctx, url); err == nil {
			c.Exec(ctx, "DROP SCHEMA IF EXISTS "+pgx.Identifier{schema}.Sanitize()+" CASCADE")
			c.Close(ctx)
		}
	})
	return url, schema
}

// TestPostgresReadModels: the server with read models in PostgreSQL runs a
// job end to end, serves it over REST, and after a restart resumes from its
// checkpoint with everything as before.
func TestPostgresReadModels(t *testing.T) {
	url, schema := postgresSchema(t)
	dir := t.TempDir()
	withPG := func(c *config.Config) { c.Database.URL, c.Database.Schema = url, schema }
	s := startServer(t, dir, Settings{}, withPG)
	node, alice, jobID := s.jobOnNode(t)
	if _, err := s.status().ReportJobResult(as(node.session), &pb.ReportJobResultRequest{NodeId: node.id, JobId: jobID,
		FinalStatus: pb.StatusCode_STATUS_SUCCESS, FinalMetrics: map[string]float64{"accuracy": 0.9}}); err != nil {
		t.Fatal(err)
	}
	if got := s.jobStatus(alice, jobID).GetStatus().GetStatus(); got != pb.StatusCode_STATUS_COMPLETED {
		t.Fatalf("status %v", got)
	}
	operator, _, _ := s.iss.MintUser("op", "", "operator", time.Hour)
	restJob := func(s *testServer) map[string]any {
		req, _ := http.NewRequest("GET", "http://"+s.app.RESTAddr()+"/api/jobs/"+jobID, nil)
		req.Header.Set("Authorization", "Bearer "+operator)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		var body map[string]any
		if resp.StatusCode != 200 || json.NewDecoder(resp.Body).Decode(&body) != nil {
			t.Fatalf("GET /api/jobs/%s: %s", jobID, resp.Status)
		}
		return body
	}
	if st := restJob(s)["status"]; st != "completed" {
		t.Fatalf("REST status %v", st)
	}
	checkpoint := s.app.pg.Checkpoint()
	s.stop()

	s2 := startServer(t, dir, Settings{}, withPG)
	if got := s2.app.pg.Checkpoint(); got < checkpoint {
		t.Fatalf("checkpoint after restart %d < %d", got, checkpoint)
	}
	if got := s2.jobStatus(alice, jobID).GetStatus(); got.GetStatus() != pb.StatusCode_STATUS_COMPLETED || got.GetMetrics()["accuracy"] != 0.9 {
		t.Fatalf("after restart: %+v", got)
	}
	if st := restJob(s2)["status"]; st != "completed" {
		t.Fatalf("REST status after restart %v", st)
	}
}
