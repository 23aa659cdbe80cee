package main

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/jackc/pgx/v5"
)

// TestReplayVerify: replay --verify passes on a healthy system and fails,
// naming the row, once a row of the live read models is tampered with.
func TestReplayVerify(t *testing.T) {
	url, schema := postgresSchema(t)
	dir := t.TempDir()
	s := startServer(t, dir, Settings{}, func(c *config.Config) { c.Database.URL, c.Database.Schema = url, schema })
	_, alice, jobID := s.jobOnNode(t)
	s.submit(alice, trainingJob())
	s.stop()

	t.Setenv("CYXWIZ_EVENTSTORE_DATA_DIR", dir)
	t.Setenv("CYXWIZ_JWT_SECRET", testSecret)
	t.Setenv("CYXWIZ_DATABASE_URL", url)
	t.Setenv("CYXWIZ_DATABASE_SCHEMA", schema)
	var out, errOut bytes.Buffer
	if err := replayCmd([]string{"--verify"}, &out, &errOut); err != nil {
		t.Fatalf("replay --verify on a healthy system: %v\n%s%s", err, out.String(), errOut.String())
	}
	if !strings.Contains(out.String(), "verified") || !strings.Contains(out.String(), "replayed") {
		t.Fatalf("output:\n%s", out.String())
	}

	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "UPDATE "+pgx.Identifier{schema, "jobs"}.Sanitize()+" SET progress = 0.42 WHERE id = $1", jobID); err != nil {
		t.Fatal(err)
	}
	out.Reset()
	err = replayCmd([]string{"--verify"}, &out, &errOut)
	if !errors.Is(err, errDifferences) || !strings.Contains(out.String(), jobID) {
		t.Fatalf("tampered row: err=%v, output:\n%s", err, out.String())
	}
	// Through the binary: exit status 1.
	cmd := command(t, []string{"CYXWIZ_EVENTSTORE_DATA_DIR=" + dir, "CYXWIZ_DATABASE_URL=" + url, "CYXWIZ_DATABASE_SCHEMA=" + schema}, "replay", "--verify")
	if err := cmd.Run(); err == nil || cmd.ProcessState.ExitCode() != 1 {
		t.Fatalf("binary exit: %v", err)
	}
}
