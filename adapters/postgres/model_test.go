package postgres

import (
	"context"
	"errors"
	"testing"

	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// TestReadModel runs the shared read-model suite, the one the memory
// model passes, against PostgreSQL: each case in a fresh schema.
func TestReadModel(t *testing.T) {
	needPostgres(t)
	readmodeltest.Run(t, func(t *testing.T) readmodeltest.ReadModelUnderTest {
		return newTestModel(t)
	})
}

// TestMigrations: an empty schema is migrated to the latest version, a
// second run applies nothing, and a model that is not migrated refuses to
// work instead of failing on a missing table.
func TestMigrations(t *testing.T) {
	ctx := context.Background()
	schema := freshSchema(t)
	m := openModel(t, schema, Options{SkipMigrate: true})
	cur, latest, err := m.SchemaVersion(ctx)
	if err != nil || cur != 0 || latest < 1 {
		t.Fatalf("an empty schema: version %d of %d, err %v; want 0 of ≥ 1", cur, latest, err)
	}
	if err := m.Apply(ctx, nil, 1); !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("Apply before Migrate: %v, want ErrNotMigrated", err)
	}
	if _, _, _, err := m.ListJobs(ctx, projections.JobFilter{}); !errors.Is(err, ErrNotMigrated) {
		t.Fatalf("ListJobs before Migrate: %v, want ErrNotMigrated", err)
	}
	n, err := m.Migrate(ctx)
	if err != nil || n != int(latest) {
		t.Fatalf("Migrate: applied %d, err %v; want %d", n, err, latest)
	}
	var tables []string
	rows, err := m.Pool().Query(ctx, `SELECT table_name FROM information_schema.tables WHERE table_schema = $1 ORDER BY 1`, schema)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, name)
	}
	want := []string{"activity", "checkpoints", "goose_db_version", "hourly_stats", "job_counts", "jobs",
		"metric_samples", "node_reservations", "nodes", "payments"}
	if len(tables) != len(want) {
		t.Fatalf("tables in %s: %v\nwant %v", schema, tables, want)
	}
	for i := range want {
		if tables[i] != want[i] {
			t.Fatalf("tables in %s: %v\nwant %v", schema, tables, want)
		}
	}
	if cur, _, err := m.SchemaVersion(ctx); err != nil || cur != latest {
		t.Fatalf("after Migrate: version %d, err %v; want %d", cur, err, latest)
	}
	if m.Checkpoint() != 0 {
		t.Fatalf("checkpoint of a new model: %d", m.Checkpoint())
	}

	// Idempotent: again, and from another process's Open, nothing to do.
	if n, err := m.Migrate(ctx); err != nil || n != 0 {
		t.Fatalf("second Migrate: applied %d, err %v; want 0", n, err)
	}
	envs := readmodeltest.Realistic(500, 5, 1)
	applyBatches(t, m, envs, 100)
	again := openModel(t, schema, Options{})
	if n, err := again.Migrate(ctx); err != nil || n != 0 {
		t.Fatalf("Migrate on a migrated schema: applied %d, err %v; want 0", n, err)
	}
	if again.Checkpoint() != envs[len(envs)-1].Position {
		t.Fatalf("reopened at checkpoint %d, want %d", again.Checkpoint(), envs[len(envs)-1].Position)
	}
	mustEqual(t, "a migrated schema migrated again", m, again)
}

// TestConcurrentMigrations: processes starting at once migrate a schema
// once, under its advisory lock.
func TestConcurrentMigrations(t *testing.T) {
	schema := freshSchema(t)
	const n = 4
	errs := make(chan error, n)
	models := make(chan *Model, n)
	for range n {
		go func() {
			m, err := Open(context.Background(), needPostgres(t), Options{Schema: schema})
			errs <- err
			models <- m
		}()
	}
	for range n {
		if err := <-errs; err != nil {
			t.Errorf("Open: %v", err)
		}
		if m := <-models; m != nil {
			m.Close()
		}
	}
}
