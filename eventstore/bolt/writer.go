package bolt

import (
	"context"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/internal/batch"
	"github.com/cyxwiz/central-server/eventstore/internal/rules"
	"github.com/google/uuid"
	bbolt "go.etcd.io/bbolt"
)

// appendReq is one Append waiting for the writer. The appending goroutine
// prepares every byte that does not depend on the log's state, so that the
// writer only stamps numbers and puts. bbolt requires keys and values to
// stay untouched until the transaction ends, which they do: the request
// owns them.
type appendReq struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	ids      []uuid.UUID
	records  [][]byte // log values; revision and time to stamp
	posKeys  [][]byte // log keys; position to stamp
	revKeys  [][]byte // revision index keys; revision to stamp
	idKeys   [][]byte // id index keys

	done chan struct{} // closed once res and err are set
	res  eventstore.AppendResult
	err  error
}

func newAppendReq(ctx context.Context, stream string, expected eventstore.ExpectedRevision, ids []uuid.UUID, events []eventstore.EventData) *appendReq {
	n, sk := len(events), streamKeys(stream)
	size := n * (8 + sk.revisionLen() + sk.idLen())
	for i := range events {
		size += recordLen(stream, &events[i])
	}
	buf := make([]byte, size)
	take := func(n int) []byte {
		b := buf[:n:n]
		buf = buf[n:]
		return b
	}
	r := &appendReq{
		ctx: ctx, stream: stream, expected: expected, ids: ids,
		records: make([][]byte, n),
		posKeys: make([][]byte, n),
		revKeys: make([][]byte, n),
		idKeys:  make([][]byte, n),
		done:    make(chan struct{}),
	}
	for i := range events {
		r.records[i] = take(recordLen(stream, &events[i]))
		encodeRecord(r.records[i], ids[i], stream, &events[i])
		r.posKeys[i] = take(8)
		r.revKeys[i] = take(sk.revisionLen())
		sk.put(r.revKeys[i], tagRevision)
		r.idKeys[i] = take(sk.idLen())
		copy(sk.put(r.idKeys[i], tagID), ids[i][:])
	}
	return r
}

// writeLoop is the single writer: it takes every queued append, up to the
// batch limit, commits them in one transaction and acknowledges each. It
// returns once the queue is closed and drained.
func (s *Store) writeLoop() {
	defer close(s.writerDone)
	var (
		b  []*appendReq
		ok bool
	)
	for {
		if b, ok = batch.Take(s.queue, b, 0, s.opts.maxBatch, func(r *appendReq) int { return len(r.ids) }); !ok {
			return
		}
		s.commit(b)
		clear(b)
	}
}

// commit applies each append of batch on top of the earlier ones in one
// transaction, then acknowledges them all once it is durable. An append
// that fails its own checks fails alone; a failing transaction fails all.
func (s *Store) commit(batch []*appendReq) {
	head := s.head
	now := s.opts.clock().UTC()
	err := s.db.Update(func(tx *bbolt.Tx) error {
		b, err := openBuckets(tx)
		if err != nil {
			return err
		}
		for _, r := range batch {
			if r.err = r.ctx.Err(); r.err != nil {
				continue
			}
			if err := apply(b, r, &head, now); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		err = fmt.Errorf("bolt event store: commit: %w", err)
		for _, r := range batch {
			r.res, r.err = eventstore.AppendResult{}, err
		}
	} else {
		s.counters.commits.Add(1)
		s.counters.appends.Add(uint64(len(batch)))
		s.counters.events.Add(head - s.head)
		if head != s.head {
			s.head = head
			s.notifier.Publish(head)
		}
	}
	for _, r := range batch {
		close(r.done)
	}
}

// apply checks one append against the transaction's state and writes it,
// advancing *head. It sets r.res or r.err, and returns an error only when
// the transaction itself failed.
func apply(b buckets, r *appendReq, head *uint64, now time.Time) error {
	var next uint64
	last, exists := streamHead(b, r.stream)
	if exists {
		// Event IDs are scoped to their stream: only an existing stream
		// can hold them already.
		res, retry, err := rules.Dedupe(r.stream, r.ids, func(i int) (rules.Location, bool, error) {
			pos := b.streams.Get(r.idKeys[i])
			if pos == nil {
				return rules.Location{}, false, nil
			}
			p := binary.BigEndian.Uint64(pos)
			stream, rev, err := recordLocation(p, b.log.Get(pos))
			return rules.Location{Stream: stream, Revision: rev, Position: p}, true, err
		})
		if err != nil || retry {
			r.res, r.err = res, err
			return nil
		}
		next = last + 1
	}
	if r.err = rules.CheckExpected(r.stream, r.expected, last, exists); r.err != nil {
		return nil
	}
	for i := range r.ids {
		*head++
		rev := next + uint64(i)
		pk := putUint64(r.posKeys[i], *head)
		revKey := r.revKeys[i]
		putUint64(revKey[len(revKey)-8:], rev)
		stamp(r.records[i], rev, now)
		if err := b.log.Put(pk, r.records[i]); err != nil {
			return err
		}
		if err := b.streams.Put(revKey, pk); err != nil {
			return err
		}
		if err := b.streams.Put(r.idKeys[i], pk); err != nil {
			return err
		}
	}
	lastRev := next + uint64(len(r.ids)) - 1
	r.res = eventstore.AppendResult{NextRevision: lastRev, Position: *head}
	return nil
}
