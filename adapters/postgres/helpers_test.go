package postgres

import (
	"context"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/cyxwiz/central-server/eventstore/postgres/pgtest"
	"github.com/cyxwiz/central-server/projections"
)

// urlEnv names the PostgreSQL the tests use.
const urlEnv = "CYXWIZ_TEST_POSTGRES_URL"

const defaultURL = "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"

func testURL() string {
	if u := os.Getenv(urlEnv); u != "" {
		return u
	}
	return defaultURL
}

var (
	reachOnce sync.Once
	reachErr  error
)

// needPostgres skips the test when PostgreSQL is unreachable, loudly, and
// fails it under CI=true, where the database must be there.
func needPostgres(tb testing.TB) string {
	tb.Helper()
	url := testURL()
	reachOnce.Do(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, url)
		if err == nil {
			err = c.Ping(ctx)
			c.Close(ctx)
		}
		reachErr = err
	})
	if reachErr != nil {
		msg := "POSTGRESQL UNREACHABLE at " + url + " (set " + urlEnv + "): " + reachErr.Error() +
			" — the PostgreSQL read-model tests did NOT run"
		if os.Getenv("CI") == "true" {
			tb.Fatal(msg)
		}
		tb.Skip(msg)
	}
	return url
}

// freshSchema returns the name of a schema no test uses, dropped (with
// everything in it) when the test ends.
func freshSchema(tb testing.TB) string {
	tb.Helper()
	return pgtest.NamedSchema(tb, needPostgres(tb), "rmtest_")
}

// openModel opens a migrated model in schema, closed when the test ends
// (before the schema is dropped).
func openModel(tb testing.TB, schema string, opts Options) *Model {
	tb.Helper()
	opts.Schema = schema
	m, err := Open(context.Background(), needPostgres(tb), opts)
	if err != nil {
		tb.Fatalf("Open(schema %s): %v", schema, err)
	}
	tb.Cleanup(m.Close)
	return m
}

// newTestModel opens a model in a fresh schema.
func newTestModel(tb testing.TB) *Model {
	tb.Helper()
	return openModel(tb, freshSchema(tb), Options{})
}

// applyBatches applies envs in batches of size (the last one smaller).
func applyBatches(tb testing.TB, m projections.ReadModel, envs []projections.Envelope, size int) {
	tb.Helper()
	for i := 0; i < len(envs); i += size {
		b := envs[i:min(i+size, len(envs))]
		if err := m.Apply(context.Background(), b, b[len(b)-1].Position); err != nil {
			tb.Fatalf("Apply up to %d: %v", b[len(b)-1].Position, err)
		}
	}
}

// mustDiff fails unless a and b hold the same rows.
func mustEqual(tb testing.TB, what string, a, b *Model) {
	tb.Helper()
	diffs, err := Diff(context.Background(), a, b)
	if err != nil {
		tb.Fatalf("%s: Diff: %v", what, err)
	}
	if len(diffs) > 0 {
		tb.Fatalf("%s: the models differ (%d differences):\n%s", what, len(diffs), joinLines(diffs))
	}
}

func joinLines(lines []string) string {
	s := ""
	for _, l := range lines {
		s += "  " + l + "\n"
	}
	return s
}
