// Package snapshotfile writes and reads one snapshot file: a versioned,
// checksummed payload replaced atomically. A reader that finds another
// format version or a damaged file says so (ErrVersion, ErrDamaged) and
// the caller falls back to what the snapshot saves it from (a replay).
//
// Layout: the magic "CYXSNAP\x00", the format version (uint32, big
// endian), the payload, then a trailer of the payload's length (uint64)
// and its CRC-32C (uint32). Write goes through a temporary file beside the
// target that is fsynced, renamed over it, and the directory fsynced: a
// crash leaves the old snapshot or the new one, never half of one (and a
// temporary file, removed by the next write).
package snapshotfile

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
)

var (
	// ErrVersion: the file is a snapshot of another format version.
	ErrVersion = errors.New("snapshot of another format version")
	// ErrDamaged: the file is not a whole snapshot (truncated, wrong
	// magic, checksum mismatch).
	ErrDamaged = errors.New("damaged snapshot")
)

var magic = [8]byte{'C', 'Y', 'X', 'S', 'N', 'A', 'P', 0}

const (
	headerLen  = len(magic) + 4
	trailerLen = 8 + 4
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// Write replaces the snapshot at path with the payload write produces,
// tagged with version. On error the old file, if any, is left as it was.
func Write(path string, version uint32, write func(io.Writer) error) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), filepath.Base(path)+".tmp-*")
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 1<<20)
	var hdr [headerLen]byte
	copy(hdr[:], magic[:])
	binary.BigEndian.PutUint32(hdr[len(magic):], version)
	if _, err := bw.Write(hdr[:]); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	cw := &countingHash{w: bw, crc: crc32.New(castagnoli)}
	if err := write(cw); err != nil {
		return fmt.Errorf("snapshot: encode: %w", err)
	}
	var tr [trailerLen]byte
	binary.BigEndian.PutUint64(tr[:8], cw.n)
	binary.BigEndian.PutUint32(tr[8:], cw.crc.Sum32())
	if _, err := bw.Write(tr[:]); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("snapshot: fsync: %w", err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	if err := syncDir(filepath.Dir(path)); err != nil {
		return err
	}
	removeStale(path)
	return nil
}

// removeStale removes the temporary files of writes a crash interrupted.
func removeStale(path string) {
	dir, prefix := filepath.Dir(path), filepath.Base(path)+".tmp-"
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), prefix) {
			_ = os.Remove(filepath.Join(dir, e.Name()))
		}
	}
}

// Read returns the payload of the snapshot at path if it is whole and of
// version. A missing file is an error matching fs.ErrNotExist.
func Read(path string, version uint32) ([]byte, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	if len(data) < headerLen+trailerLen || [8]byte(data[:len(magic)]) != magic {
		return nil, fmt.Errorf("%w: %s is not a snapshot file (%d bytes)", ErrDamaged, path, len(data))
	}
	if v := binary.BigEndian.Uint32(data[len(magic):headerLen]); v != version {
		return nil, fmt.Errorf("%w: %s is format %d, this build reads %d", ErrVersion, path, v, version)
	}
	payload, tr := data[headerLen:len(data)-trailerLen], data[len(data)-trailerLen:]
	if n := binary.BigEndian.Uint64(tr[:8]); n != uint64(len(payload)) {
		return nil, fmt.Errorf("%w: %s holds %d payload bytes, its trailer says %d", ErrDamaged, path, len(payload), n)
	}
	if sum := crc32.Checksum(payload, castagnoli); sum != binary.BigEndian.Uint32(tr[8:]) {
		return nil, fmt.Errorf("%w: %s checksum mismatch", ErrDamaged, path)
	}
	return payload, nil
}

// countingHash writes through to w, summing and counting what passes.
type countingHash struct {
	w   io.Writer
	crc interface {
		io.Writer
		Sum32() uint32
	}
	n uint64
}

func (c *countingHash) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.crc.Write(p[:n])
	c.n += uint64(n)
	return n, err
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("snapshot: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("snapshot: fsync %s: %w", dir, err)
	}
	return nil
}
