package bolt

import (
	"path/filepath"
	"testing"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"
)

// TestStreamHead checks heads of streams whose names are prefixes of each
// other, of the first and last streams of the bucket and of absent ones.
func TestStreamHead(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "events.db"), WithNoSync())
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	want := map[string]int{"a": 3, "ab": 1, "abc": 2, "b": 1, "\xff\xff": 4, "\x00": 2}
	for stream, n := range want {
		for i := range n {
			e := eventstore.EventData{ID: uuid.NewString(), Type: "E"}
			if _, err := s.Append(t.Context(), stream, eventstore.Any(), e); err != nil {
				t.Fatalf("append %d to %q: %v", i, stream, err)
			}
		}
	}
	err = s.db.View(func(tx *bbolt.Tx) error {
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		for stream, n := range want {
			if last, ok := streamHead(b, stream); !ok || last != uint64(n-1) {
				t.Errorf("streamHead(%q) = %d, %v; want %d", stream, last, ok, n-1)
			}
		}
		for _, stream := range []string{"", "aa", "abcd", "c", "\xff", "\xff\xff\xff", "\x00\x00"} {
			if last, ok := streamHead(b, stream); ok {
				t.Errorf("streamHead(%q) = %d for an absent stream", stream, last)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	verify(t, s)
}
