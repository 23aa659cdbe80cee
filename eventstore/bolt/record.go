package bolt

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
)

// A record is the value of an event in the log bucket:
//
//	version   1 byte (recordV1)
//	revision  8 bytes, big endian
//	seconds   8 bytes, big endian, of the recorded time (Unix)
//	nanos     4 bytes, big endian
//	id        16 bytes
//	stream, type, correlation id, causation id, actor: uvarint length + bytes each
//	data      the rest
//
// The appending goroutine encodes everything but revision and time, which
// the writer stamps in place once it knows them. The position is the key.
const (
	recordV1     = 1
	offRevision  = 1
	offSeconds   = 9
	offNanos     = 17
	offID        = 21
	recordHeader = 37
)

var errCorrupt = errors.New("bolt event store: corrupt record")

// recordLen is the encoded length of e in stream.
func recordLen(stream string, e *eventstore.EventData) int {
	n := recordHeader + len(e.Data)
	for _, s := range [...]string{stream, e.Type, e.Metadata.CorrelationID, e.Metadata.CausationID, e.Metadata.Actor} {
		n += uvarintLen(uint64(len(s))) + len(s)
	}
	return n
}

// encodeRecord writes e into b, which has exactly recordLen bytes, leaving
// revision and time to stamp.
func encodeRecord(b []byte, id uuid.UUID, stream string, e *eventstore.EventData) {
	b[0] = recordV1
	copy(b[offID:], id[:])
	o := recordHeader
	for _, s := range [...]string{stream, e.Type, e.Metadata.CorrelationID, e.Metadata.CausationID, e.Metadata.Actor} {
		o += binary.PutUvarint(b[o:], uint64(len(s)))
		o += copy(b[o:], s)
	}
	copy(b[o:], e.Data)
}

// stamp sets the revision and recorded time of an encoded record.
func stamp(b []byte, rev uint64, t time.Time) {
	binary.BigEndian.PutUint64(b[offRevision:], rev)
	binary.BigEndian.PutUint64(b[offSeconds:], uint64(t.Unix()))
	binary.BigEndian.PutUint32(b[offNanos:], uint32(t.Nanosecond()))
}

// decodeRecord decodes the record of the event at pos. It copies
// everything out of b, which bbolt owns.
func decodeRecord(pos uint64, b []byte) (eventstore.RecordedEvent, error) {
	var e eventstore.RecordedEvent
	if len(b) < recordHeader || b[0] != recordV1 {
		return e, fmt.Errorf("%w at position %d", errCorrupt, pos)
	}
	nanos := binary.BigEndian.Uint32(b[offNanos:])
	if nanos >= 1e9 {
		return e, fmt.Errorf("%w at position %d", errCorrupt, pos)
	}
	e.Position = pos
	e.Revision = binary.BigEndian.Uint64(b[offRevision:])
	e.Recorded = time.Unix(int64(binary.BigEndian.Uint64(b[offSeconds:])), int64(nanos)).UTC()
	e.ID = uuid.UUID(b[offID : offID+16]).String()
	fields := [...]*string{&e.Stream, &e.Type, &e.Metadata.CorrelationID, &e.Metadata.CausationID, &e.Metadata.Actor}
	rest := b[recordHeader:]
	for _, f := range fields {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return e, fmt.Errorf("%w at position %d", errCorrupt, pos)
		}
		*f = string(rest[w : w+int(n)])
		rest = rest[w+int(n):]
	}
	if len(rest) > 0 {
		e.Data = append([]byte(nil), rest...)
	}
	return e, nil
}

// recordLocation returns the stream and revision of a record without
// decoding the rest.
func recordLocation(pos uint64, b []byte) (stream string, rev uint64, err error) {
	if len(b) < recordHeader || b[0] != recordV1 {
		return "", 0, fmt.Errorf("%w at position %d", errCorrupt, pos)
	}
	rest := b[recordHeader:]
	n, w := binary.Uvarint(rest)
	if w <= 0 || n > uint64(len(rest)-w) {
		return "", 0, fmt.Errorf("%w at position %d", errCorrupt, pos)
	}
	return string(rest[w : w+int(n)]), binary.BigEndian.Uint64(b[offRevision:]), nil
}

func uvarintLen(v uint64) int {
	n := 1
	for v >= 0x80 {
		v >>= 7
		n++
	}
	return n
}
