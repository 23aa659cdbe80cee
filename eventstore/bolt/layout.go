package bolt

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"
)

// The file holds three buckets:
//
//	log:     position (8 bytes, big endian) → record (see record.go)
//	streams: per stream, under the prefix len(stream) (2 bytes) | stream:
//	           prefix 'i' event id (16 bytes) → position
//	           prefix 'r' revision (8 bytes)  → position
//	meta:    the format name, checked at open
//
// The log is append-only, so its pages fill sequentially. A stream's id
// and revision entries share one key range, so an append to a short stream
// rewrites a single index page; the stream's head is its last revision
// entry. Event IDs are scoped to their stream.
var (
	bucketLog     = []byte("log")
	bucketStreams = []byte("streams")
	bucketMeta    = []byte("meta")

	metaFormatKey = []byte("format")
	formatV1      = []byte("cyxwiz-eventstore/1")
)

// Tags that follow the stream prefix in the streams bucket.
const (
	tagID       = 'i'
	tagRevision = 'r'
)

// buckets are the buckets of one transaction.
type buckets struct {
	log, streams *bbolt.Bucket
}

func openBuckets(tx *bbolt.Tx) (buckets, error) {
	b := buckets{log: tx.Bucket(bucketLog), streams: tx.Bucket(bucketStreams)}
	if b.log == nil || b.streams == nil {
		return b, errors.New("bolt event store: missing bucket")
	}
	// The log is append-only: fill its pages completely.
	b.log.FillPercent = 1.0
	return b, nil
}

// initFile creates the buckets of a new file or checks those of an
// existing one, and returns the last position.
func initFile(db *bbolt.DB) (head uint64, err error) {
	err = db.Update(func(tx *bbolt.Tx) error {
		meta, err := tx.CreateBucketIfNotExists(bucketMeta)
		if err != nil {
			return err
		}
		switch f := meta.Get(metaFormatKey); {
		case f == nil:
			n := 0
			_ = tx.ForEach(func([]byte, *bbolt.Bucket) error { n++; return nil })
			if n > 1 {
				return errors.New("bolt event store: the file holds other data, not an event store")
			}
			if err := meta.Put(metaFormatKey, formatV1); err != nil {
				return err
			}
		case string(f) != string(formatV1):
			return fmt.Errorf("bolt event store: unsupported file format %q", f)
		}
		for _, name := range [][]byte{bucketLog, bucketStreams} {
			if _, err := tx.CreateBucketIfNotExists(name); err != nil {
				return err
			}
		}
		if k, _ := tx.Bucket(bucketLog).Cursor().Last(); k != nil {
			head = binary.BigEndian.Uint64(k)
		}
		return nil
	})
	return head, err
}

func putUint64(b []byte, v uint64) []byte {
	binary.BigEndian.PutUint64(b, v)
	return b
}

func uint64Key(v uint64) []byte { return putUint64(make([]byte, 8), v) }

// streamKeys builds the keys of one stream in the streams bucket.
type streamKeys string

// prefixLen is the length of the stream's key prefix.
func (s streamKeys) prefixLen() int { return 2 + len(s) }

// put writes the prefix and tag into b, which must have room, and returns
// the rest of b.
func (s streamKeys) put(b []byte, tag byte) []byte {
	binary.BigEndian.PutUint16(b, uint16(len(s)))
	n := copy(b[2:], s)
	b[2+n] = tag
	return b[3+n:]
}

// Lengths of the stream's keys.
func (s streamKeys) revisionLen() int { return s.prefixLen() + 1 + 8 }
func (s streamKeys) idLen() int       { return s.prefixLen() + 1 + 16 }

// streamHead returns the last revision of stream, if it has events: the
// key just before the end of its revision range.
func streamHead(b buckets, stream string) (last uint64, exists bool) {
	sk := streamKeys(stream)
	end := make([]byte, sk.prefixLen()+1)
	sk.put(end, tagRevision+1) // sorts after every revision key of stream
	c := b.streams.Cursor()
	k, _ := c.Seek(end)
	if k == nil {
		k, _ = c.Last()
	} else {
		k, _ = c.Prev()
	}
	p := sk.prefixLen()
	if len(k) != sk.revisionLen() || k[p] != tagRevision || !bytes.Equal(k[:p], end[:p]) {
		return 0, false
	}
	return binary.BigEndian.Uint64(k[p+1:]), true
}

func (s streamKeys) revision(rev uint64) []byte {
	k := make([]byte, s.revisionLen())
	putUint64(s.put(k, tagRevision), rev)
	return k
}

func (s streamKeys) id(id uuid.UUID) []byte {
	k := make([]byte, s.idLen())
	copy(s.put(k, tagID), id[:])
	return k
}
