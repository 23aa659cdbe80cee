package esdb_test

import (
	"os"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/esdb"
	"github.com/cyxwiz/central-server/eventstore/storetest"
	"github.com/google/uuid"
)

// TestConformance runs the conformance suite against a real EventStoreDB
// named by CYXWIZ_TEST_ESDB_URL (e.g. esdb://127.0.0.1:2113?tls=false).
// Every store gets its own namespace (WithNamespace), so the subtests
// share the server without seeing each other's events; Reopen opens a new
// store on the same namespace.
//
// Without the variable it skips, also under CI=true: this is the one
// agreed exception to "absent services fail in CI", because no
// EventStoreDB server can be installed on these machines. The contract
// tests (contract_test.go) run the same suite against an in-process fake
// of the server's gRPC contract instead.
func TestConformance(t *testing.T) {
	url := os.Getenv("CYXWIZ_TEST_ESDB_URL")
	if url == "" {
		msg := "SKIPPED: the EventStoreDB conformance suite needs a real server; set CYXWIZ_TEST_ESDB_URL " +
			"(e.g. esdb://127.0.0.1:2113?tls=false, from `docker compose up eventstore`). " +
			"Only the contract fake ran (TestContract*), which does not prove the real server's behaviour."
		if os.Getenv("CI") == "true" {
			msg += " Skipping under CI=true too: no EventStoreDB server can exist on these machines (agreed exception)."
		}
		t.Skip(msg)
	}
	var mu sync.Mutex
	namespaces := map[eventstore.Store]string{}
	openNS := func(t *testing.T, ns string) eventstore.Store {
		st, err := esdb.Open(t.Context(), url, esdb.WithNamespace(ns), esdb.WithConnectTimeout(30*time.Second))
		if err != nil {
			t.Fatalf("Open(%s): %v", url, err)
		}
		return st
	}
	storetest.Run(t,
		func(t *testing.T) eventstore.Store {
			ns := "t" + uuid.NewString()[:8] + "-"
			st := openNS(t, ns)
			mu.Lock()
			namespaces[st] = ns
			mu.Unlock()
			return st
		},
		func(t *testing.T, old eventstore.Store) eventstore.Store {
			mu.Lock()
			ns := namespaces[old]
			mu.Unlock()
			return openNS(t, ns)
		})
}
