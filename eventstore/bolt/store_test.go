package bolt_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/bolt"
	"github.com/cyxwiz/central-server/eventstore/storetest"
	"github.com/google/uuid"
)

func open(t testing.TB, path string, opts ...bolt.Option) *bolt.Store {
	t.Helper()
	st, err := bolt.Open(path, opts...)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return st
}

// TestConformance runs the suite with fsync on, as in production.
func TestConformance(t *testing.T) {
	storetest.Run(t,
		func(t *testing.T) eventstore.Store {
			return open(t, filepath.Join(t.TempDir(), "events.db"))
		},
		func(t *testing.T, old eventstore.Store) eventstore.Store {
			return open(t, old.(*bolt.Store).Path())
		})
}

// TestConformanceSmallBatches runs the suite with one event per
// transaction, so that batches split appends and subscriptions cross many
// commits.
func TestConformanceSmallBatches(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	storetest.Run(t,
		func(t *testing.T) eventstore.Store {
			return open(t, filepath.Join(t.TempDir(), "events.db"), bolt.WithMaxBatch(1), bolt.WithNoSync())
		},
		func(t *testing.T, old eventstore.Store) eventstore.Store {
			return open(t, old.(*bolt.Store).Path(), bolt.WithMaxBatch(1), bolt.WithNoSync())
		})
}

func TestClock(t *testing.T) {
	at := time.Date(2026, 3, 1, 12, 0, 0, 42, time.FixedZone("X", 3600))
	path := filepath.Join(t.TempDir(), "events.db")
	st := open(t, path, bolt.WithClock(func() time.Time { return at }))
	if _, err := st.Append(t.Context(), "s", eventstore.NoStream(), eventstore.EventData{ID: uuid.NewString(), Type: "E"}); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st = open(t, path)
	defer st.Close()
	events, err := st.ReadStream(t.Context(), "s", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := events[0].Recorded; !got.Equal(at) || got.Location() != time.UTC {
		t.Fatalf("Recorded = %v, want %v in UTC", got, at)
	}
}

func TestPositionsAreDense(t *testing.T) {
	st := open(t, filepath.Join(t.TempDir(), "events.db"), bolt.WithNoSync())
	defer st.Close()
	for i := range 5 {
		res, err := st.Append(t.Context(), "s", eventstore.Any(), eventstore.EventData{ID: uuid.NewString(), Type: "E"}, eventstore.EventData{ID: uuid.NewString(), Type: "E"})
		if err != nil {
			t.Fatal(err)
		}
		if want := uint64(2*i + 2); res.Position != want {
			t.Fatalf("append %d: position %d, want %d", i, res.Position, want)
		}
		// A refused append uses no position.
		if _, err := st.Append(t.Context(), "s", eventstore.NoStream(), eventstore.EventData{ID: uuid.NewString(), Type: "E"}); err == nil {
			t.Fatal("NoStream on an existing stream succeeded")
		}
	}
}

func TestOpenRejectsForeignFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "events.db")
	if err := os.WriteFile(path, []byte("not a bolt file, definitely not"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := bolt.Open(path); err == nil {
		st.Close()
		t.Fatal("Open accepted a file that is not a bbolt database")
	}
}

func TestOpenLockedFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "events.db")
	st := open(t, path)
	defer st.Close()
	_, err := bolt.Open(path, bolt.WithLockTimeout(50*time.Millisecond))
	if err == nil || !strings.Contains(err.Error(), "timeout") {
		t.Fatalf("second Open of a file in use: %v, want a timeout", err)
	}
}
