package bolt

import (
	"bytes"
	"encoding/binary"
	"testing"

	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"
)

// verify checks the file's page structure and that the streams bucket
// agrees with the log: positions are 1..n, each event's revision and id
// entries point at it, and each stream's head is its last revision.
func verify(t testing.TB, s *Store) {
	t.Helper()
	err := s.db.View(func(tx *bbolt.Tx) error {
		for err := range tx.Check() {
			t.Errorf("bbolt check: %v", err)
		}
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		heads := map[string]uint64{}
		var n uint64
		c := b.log.Cursor()
		for k, v := c.First(); k != nil; k, v = c.Next() {
			n++
			pos := binary.BigEndian.Uint64(k)
			if pos != n {
				t.Fatalf("log: position %d where %d was expected", pos, n)
			}
			e, err := decodeRecord(pos, v)
			if err != nil {
				return err
			}
			sk := streamKeys(e.Stream)
			id, _ := uuid.Parse(e.ID)
			if got := b.streams.Get(sk.id(id)); !bytes.Equal(got, k) {
				t.Fatalf("event %s at %d: id entry says %x", e.ID, pos, got)
			}
			if got := b.streams.Get(sk.revision(e.Revision)); !bytes.Equal(got, k) {
				t.Fatalf("event %s at %d: revision entry says %x", e.ID, pos, got)
			}
			if h, ok := heads[e.Stream]; (ok && e.Revision != h+1) || (!ok && e.Revision != 0) {
				t.Fatalf("stream %q: revision %d follows %d (seen: %v)", e.Stream, e.Revision, h, ok)
			}
			heads[e.Stream] = e.Revision
		}
		for stream, h := range heads {
			if got, ok := streamHead(b, stream); !ok || got != h {
				t.Fatalf("stream %q: head %d (%v), log says %d", stream, got, ok, h)
			}
		}
		if got, want := uint64(b.streams.Stats().KeyN), 2*n; got != want {
			t.Fatalf("streams bucket has %d entries, want %d", got, want)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}
