package postgres

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// TestDiffFindsTampering: two replays of one history, in different
// batches, are equal row for row; a changed, a deleted and an added row
// are each reported.
func TestDiffFindsTampering(t *testing.T) {
	ctx := context.Background()
	envs := readmodeltest.Realistic(3_000, 10, 3)
	a, b := newTestModel(t), openModel(t, freshSchema(t), Options{AsyncCommit: true})
	applyBatches(t, a, envs, 512)
	applyBatches(t, b, envs, 33)
	mustEqual(t, "two replays", a, b)

	var dump strings.Builder
	if err := Dump(ctx, a, &dump); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(dump.String(), "\n"); n < 1000 {
		t.Fatalf("Dump wrote %d rows", n)
	}

	exec := func(sql string, args ...any) {
		t.Helper()
		if _, err := b.Pool().Exec(ctx, sql, args...); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	exec(`UPDATE jobs SET progress = 0.125 WHERE id = 'job-00000000'`)
	exec(`DELETE FROM activity WHERE position = 1000`)
	exec(`INSERT INTO node_reservations (node_id, job_id, slot) VALUES ('node-00003', 'ghost', 9)`)
	exec(`UPDATE hourly_stats SET completed = completed + 1`)
	diffs, err := Diff(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		`jobs[id="job-00000000"]: progress = `,
		`node_reservations[node_id="node-00003" job_id="ghost"]: only in the second model`,
		`activity[position="1000"]: only in the first model`,
		`hourly_stats[hour=`,
	}
	if len(diffs) != len(want) {
		t.Fatalf("Diff found %d differences, want %d:\n%s", len(diffs), len(want), joinLines(diffs))
	}
	for _, w := range want {
		found := false
		for _, d := range diffs {
			found = found || strings.HasPrefix(d, w)
		}
		if !found {
			t.Errorf("Diff does not report %q:\n%s", w, joinLines(diffs))
		}
	}

	// The list is bounded.
	exec(`UPDATE activity SET summary = 'x'`)
	diffs, err = Diff(ctx, a, b)
	if err != nil {
		t.Fatal(err)
	}
	if len(diffs) != MaxDiffs+1 || !strings.Contains(diffs[MaxDiffs], "more differences") {
		t.Fatalf("Diff of many differences: %d lines, last %q", len(diffs), diffs[len(diffs)-1])
	}
}

// TestHostileInput: filters and ids are parameters, never SQL; a schema
// name is an identifier, quoted.
func TestHostileInput(t *testing.T) {
	ctx := context.Background()
	schema := freshSchema(t) + `"; DROP TABLE jobs; --`
	t.Cleanup(func() {
		m, err := Open(ctx, needPostgres(t), Options{Schema: "public", SkipMigrate: true})
		if err == nil {
			m.Pool().Exec(ctx, `DROP SCHEMA IF EXISTS `+quoteIdent(schema)+` CASCADE`) //nolint:errcheck
			m.Close()
		}
	})
	m := openModel(t, schema, Options{})
	envs := readmodeltest.Realistic(500, 3, 1)
	applyBatches(t, m, envs, 100)
	evil := []string{`' OR '1'='1`, `x'; DROP TABLE jobs; --`, `$1`, `\`, "\x00", `%`, `_`}
	for _, s := range evil {
		if _, found, err := m.GetJob(ctx, s); err != nil || found {
			t.Fatalf("GetJob(%q) = %v, %v", s, found, err)
		}
		jobs, _, total, err := m.ListJobs(ctx, projections.JobFilter{Owner: s})
		if err != nil || len(jobs) != 0 || total != 0 {
			t.Fatalf("ListJobs(owner %q) = %d jobs, total %d, err %v", s, len(jobs), total, err)
		}
		if pts, err := m.NodeMetrics(ctx, s, readmodeltest.T0, readmodeltest.T0.Add(1e12)); err != nil || len(pts) != 0 {
			t.Fatalf("NodeMetrics(%q) = %d, %v", s, len(pts), err)
		}
		if _, err := m.ListPayments(ctx, s, 10, readmodeltest.T0); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Fatalf("ListPayments(%q): %v", s, err)
		}
	}
	bad := domain.JobType(1 << 20)
	if jobs, _, total, err := m.ListJobs(ctx, projections.JobFilter{Type: &bad, Statuses: []domain.JobStatus{-1, 1 << 30}}); err != nil || len(jobs) != 0 || total != 0 {
		t.Fatalf("ListJobs with out-of-range enums = %d, %d, %v", len(jobs), total, err)
	}
	if _, _, total, err := m.ListJobs(ctx, projections.JobFilter{}); err != nil || total == 0 {
		t.Fatalf("after all that, ListJobs: total %d, err %v", total, err)
	}
}

func quoteIdent(s string) string { return `"` + strings.ReplaceAll(s, `"`, `""`) + `"` }

// TestSecondWriter: a second process projecting into the same schema
// finds the checkpoint moved, reloads its mirror and goes on from there:
// nothing is applied twice and both answer alike.
func TestSecondWriter(t *testing.T) {
	envs := readmodeltest.Realistic(4_000, 12, 5)
	schema := freshSchema(t)
	a, b := openModel(t, schema, Options{}), openModel(t, schema, Options{})
	third := len(envs) / 3
	applyBatches(t, a, envs[:third], 200)
	applyBatches(t, b, envs[:2*third], 150) // its first part is below the checkpoint
	applyBatches(t, a, envs, 300)
	if a.Checkpoint() != envs[len(envs)-1].Position || b.Checkpoint() != envs[2*third-1].Position {
		t.Fatalf("checkpoints %d and %d", a.Checkpoint(), b.Checkpoint())
	}
	fresh := newTestModel(t)
	applyBatches(t, fresh, envs, 512)
	mustEqual(t, "two writers vs one", fresh, a)
	// b's mirror is stale until its next batch; an empty one reloads it.
	if err := b.Apply(context.Background(), nil, a.Checkpoint()); err != nil {
		t.Fatal(err)
	}
	mem := newMemory(envs)
	compareModels(t, envs, mem, b)
	compareModels(t, envs, mem, a)
}

// TestCheckpointBehind: when the stored checkpoint went back behind what
// the process committed (a restored backup, a PostgreSQL crash with
// AsyncCommit), Apply refuses instead of skipping the lost events.
func TestCheckpointBehind(t *testing.T) {
	ctx := context.Background()
	envs := readmodeltest.Realistic(1_000, 5, 2)
	m := openModel(t, freshSchema(t), Options{AsyncCommit: true})
	applyBatches(t, m, envs[:500], 100)
	if _, err := m.Pool().Exec(ctx, `UPDATE checkpoints SET position = 400`); err != nil {
		t.Fatal(err)
	}
	err := m.Apply(ctx, envs[500:600], envs[599].Position)
	if !errors.Is(err, ErrCheckpointBehind) {
		t.Fatalf("Apply after the checkpoint went back: %v, want ErrCheckpointBehind", err)
	}
	var stored int64
	if err := m.Pool().QueryRow(ctx, `SELECT position FROM checkpoints`).Scan(&stored); err != nil || stored != 400 {
		t.Fatalf("stored checkpoint %d (err %v), want 400 untouched", stored, err)
	}
	if m.Checkpoint() != envs[499].Position {
		t.Fatalf("Checkpoint() = %d, want %d", m.Checkpoint(), envs[499].Position)
	}
}
