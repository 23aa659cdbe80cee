package postgres_test

import (
	"sync"
	"testing"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/postgres"
	"github.com/cyxwiz/central-server/eventstore/postgres/pgtest"
	"github.com/cyxwiz/central-server/eventstore/storetest"
)

// open opens a store in schema, closed when the test ends.
func open(t *testing.T, url, schema string, opts postgres.Options) *postgres.Store {
	t.Helper()
	opts.Schema = schema
	st, err := postgres.Open(t.Context(), url, opts)
	if err != nil {
		t.Fatalf("Open(schema %s): %v", schema, err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestConformance runs the conformance suite, each store in a schema of
// its own; Reopen opens a new store on the same schema.
func TestConformance(t *testing.T) {
	url := pgtest.URL(t)
	var mu sync.Mutex
	schemas := map[eventstore.Store]string{}
	storetest.Run(t,
		func(t *testing.T) eventstore.Store {
			schema := pgtest.Schema(t, url)
			st, err := postgres.Open(t.Context(), url, postgres.Options{Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			schemas[st] = schema
			mu.Unlock()
			return st
		},
		func(t *testing.T, old eventstore.Store) eventstore.Store {
			mu.Lock()
			schema := schemas[old]
			mu.Unlock()
			st, err := postgres.Open(t.Context(), url, postgres.Options{Schema: schema})
			if err != nil {
				t.Fatal(err)
			}
			return st
		})
}
