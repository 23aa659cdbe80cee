package snapshotfile_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"testing"

	"github.com/cyxwiz/central-server/adapters/snapshotfile"
)

func write(t *testing.T, path string, version uint32, payload []byte) {
	t.Helper()
	if err := snapshotfile.Write(path, version, func(w io.Writer) error {
		_, err := w.Write(payload)
		return err
	}); err != nil {
		t.Fatal(err)
	}
}

func TestRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "s.snap")
	for _, payload := range [][]byte{{}, []byte("hello"), bytes.Repeat([]byte("xyz"), 1<<20)} {
		write(t, path, 3, payload)
		got, err := snapshotfile.Read(path, 3)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, payload) {
			t.Fatalf("read %d bytes, wrote %d", len(got), len(payload))
		}
	}
}

func TestRejects(t *testing.T) {
	good := func(t *testing.T) (string, []byte) {
		path := filepath.Join(t.TempDir(), "s.snap")
		write(t, path, 1, []byte("the payload of a snapshot"))
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		return path, data
	}
	tests := []struct {
		name   string
		damage func([]byte) []byte
		want   error
	}{
		{"flipped payload byte", func(b []byte) []byte { b[15] ^= 1; return b }, snapshotfile.ErrDamaged},
		{"flipped checksum", func(b []byte) []byte { b[len(b)-1] ^= 1; return b }, snapshotfile.ErrDamaged},
		{"truncated", func(b []byte) []byte { return b[:len(b)-3] }, snapshotfile.ErrDamaged},
		{"extended", func(b []byte) []byte { return append(b, 0) }, snapshotfile.ErrDamaged},
		{"empty", func([]byte) []byte { return nil }, snapshotfile.ErrDamaged},
		{"not a snapshot", func([]byte) []byte { return []byte("{\"json\": true, \"padding\": 1234}") }, snapshotfile.ErrDamaged},
		{"another version", func(b []byte) []byte { b[11] = 2; return b }, snapshotfile.ErrVersion},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path, data := good(t)
			if err := os.WriteFile(path, tt.damage(data), 0o600); err != nil {
				t.Fatal(err)
			}
			if _, err := snapshotfile.Read(path, 1); !errors.Is(err, tt.want) {
				t.Fatalf("Read = %v, want %v", err, tt.want)
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		if _, err := snapshotfile.Read(filepath.Join(t.TempDir(), "none"), 1); !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("Read = %v, want fs.ErrNotExist", err)
		}
	})
}

// A write that fails half way (as a crash before the rename would) leaves
// the previous snapshot readable and no temporary file behind; a temporary
// file a real crash left does not disturb reading.
func TestFailedWriteKeepsTheOldSnapshot(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "s.snap")
	write(t, path, 1, []byte("old"))
	boom := errors.New("boom")
	err := snapshotfile.Write(path, 1, func(w io.Writer) error {
		w.Write(bytes.Repeat([]byte("new"), 1<<20))
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("Write = %v, want %v", err, boom)
	}
	if err := os.WriteFile(path+".tmp-crashed", []byte("CYXSNAP\x00half"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := snapshotfile.Read(path, 1)
	if err != nil || string(got) != "old" {
		t.Fatalf("Read = %q, %v; want the old snapshot", got, err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 2 {
		t.Fatalf("dir holds %d files, want the snapshot and the crashed temp file only", len(entries))
	}
	write(t, path, 1, []byte("newer"))
	if entries, _ = os.ReadDir(dir); len(entries) != 1 {
		t.Fatalf("after a good write the dir holds %d files, want the snapshot only (the crashed temp file removed)", len(entries))
	}
}
