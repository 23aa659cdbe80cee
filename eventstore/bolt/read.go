package bolt

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cyxwiz/central-server/eventstore"
	bbolt "go.etcd.io/bbolt"
)

// ctxCheckEvery is how many events a read decodes between checks of its
// context.
const ctxCheckEvery = 1024

// view runs fn in a read transaction of the open store.
func (s *Store) view(ctx context.Context, fn func(tx *bbolt.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	return s.db.View(fn)
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, max int) (events []eventstore.RecordedEvent, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		events, err = readStream(ctx, tx, stream, from, max)
		return err
	})
	return events, err
}

// ReadAll implements eventstore.Store.
func (s *Store) ReadAll(ctx context.Context, after uint64, max int) (events []eventstore.RecordedEvent, err error) {
	err = s.view(ctx, func(tx *bbolt.Tx) error {
		events, err = readAll(ctx, tx, after, max)
		return err
	})
	return events, err
}

func readStream(ctx context.Context, tx *bbolt.Tx, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	b, err := openBuckets(tx)
	if err != nil {
		return nil, err
	}
	sk := streamKeys(stream)
	last, exists := streamHead(b, stream)
	if !exists {
		return nil, eventstore.ErrStreamNotFound
	}
	if from > last {
		return []eventstore.RecordedEvent{}, nil
	}
	n := last - from + 1
	if max > 0 && uint64(max) < n {
		n = uint64(max)
	}
	events := make([]eventstore.RecordedEvent, 0, n)
	seek := sk.revision(from)
	prefix := seek[:len(seek)-8]
	c := b.streams.Cursor()
	for k, v := c.Seek(seek); k != nil && bytes.HasPrefix(k, prefix) && uint64(len(events)) < n; k, v = c.Next() {
		if len(events)%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		e, err := readEvent(b, v)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}

func readAll(ctx context.Context, tx *bbolt.Tx, after uint64, max int) ([]eventstore.RecordedEvent, error) {
	b, err := openBuckets(tx)
	if err != nil {
		return nil, err
	}
	events := []eventstore.RecordedEvent{}
	if max > 0 {
		events = make([]eventstore.RecordedEvent, 0, min(max, 4096))
	}
	if after == math.MaxUint64 {
		return events, nil
	}
	c := b.log.Cursor()
	for k, v := c.Seek(uint64Key(after + 1)); k != nil && (max <= 0 || len(events) < max); k, v = c.Next() {
		if len(events)%ctxCheckEvery == ctxCheckEvery-1 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		e, err := decodeRecord(binary.BigEndian.Uint64(k), v)
		if err != nil {
			return nil, err
		}
		events = append(events, e)
	}
	return events, nil
}

// readEvent reads the event at the position key pos.
func readEvent(b buckets, pos []byte) (eventstore.RecordedEvent, error) {
	rec := b.log.Get(pos)
	if rec == nil {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w: position %d is indexed but not in the log", errCorrupt, binary.BigEndian.Uint64(pos))
	}
	return decodeRecord(binary.BigEndian.Uint64(pos), rec)
}
