package esdb

import (
	"context"
	"errors"
	"io"
	"math"
	"sync"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/internal/rules"
	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
)

// The ID index remembers, per recently used stream, where each event ID
// of the stream is recorded, so that the reads that recognise retried
// appends (see the package doc) fetch only the events recorded since the
// stream was last read, instead of the whole stream every time. Streams
// are append-only, so a remembered location stays true (deleting or
// truncating a stream, which the port does not do, would stale it).
const (
	indexStreams   = 512    // streams remembered
	indexMaxEvents = 50_000 // longer streams are scanned, not remembered
)

type idIndex struct {
	streams *lru.Cache[string, *streamIDs]
}

// streamIDs is the remembered part of one stream: revisions 0..next-1.
type streamIDs struct {
	mu   sync.Mutex
	next uint64 // revisions below next are in ids
	ids  map[uuid.UUID]rules.Location
	big  bool // over indexMaxEvents: scanned backwards every time
}

func newIDIndex() *idIndex {
	c, _ := lru.New[string, *streamIDs](indexStreams) // size > 0: cannot fail
	return &idIndex{streams: c}
}

// scan reports the stream's last revision and where each of ids is
// recorded in it.
func (s *Store) scan(ctx context.Context, stream string, ids []uuid.UUID) (streamScan, error) {
	entry, ok := s.index.streams.Get(stream)
	if !ok {
		fresh := &streamIDs{ids: map[uuid.UUID]rules.Location{}}
		if prev, found, _ := s.index.streams.PeekOrAdd(stream, fresh); found {
			entry = prev
		} else {
			entry = fresh
		}
	}
	entry.mu.Lock()
	defer entry.mu.Unlock()
	if entry.big {
		return s.scanBackwards(ctx, stream, ids)
	}
	// Read what was recorded since, aside (do may abandon the read), then
	// remember it.
	type seen struct {
		id  uuid.UUID
		loc rules.Location
	}
	var recs []seen
	gap := false
	next := entry.next
	err := s.do(ctx, func(c *esdb.Client) error {
		rs, err := c.ReadStream(ctx, s.name(stream), esdb.ReadStreamOptions{From: esdb.Revision(next)}, math.MaxInt64)
		if err != nil {
			return s.mapErr(ctx, "read", stream, err)
		}
		defer rs.Close()
		for rev := next; ; rev++ {
			ev, err := rs.Recv()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				err = s.mapErr(ctx, "read", stream, err)
				if errors.Is(err, eventstore.ErrStreamNotFound) {
					return nil
				}
				return err
			}
			rec := ev.OriginalEvent()
			if rec.EventNumber != rev {
				gap = true // a truncated or recreated stream
				return nil
			}
			e, err := s.toRecorded(rec, stream)
			if err != nil {
				return err
			}
			recs = append(recs, seen{rec.EventID, rules.Location{Stream: stream, Revision: e.Revision, Position: e.Position}})
			if rev+1 > indexMaxEvents {
				return nil
			}
		}
	})
	if err != nil {
		return streamScan{}, err
	}
	if gap {
		entry.next, entry.ids = 0, map[uuid.UUID]rules.Location{}
		return s.scanBackwards(ctx, stream, ids)
	}
	for _, r := range recs {
		entry.ids[r.id] = r.loc
	}
	entry.next += uint64(len(recs))
	if entry.next > indexMaxEvents {
		entry.big, entry.ids = true, nil // remembered as too long to remember
		return s.scanBackwards(ctx, stream, ids)
	}
	sc := streamScan{found: make(map[uuid.UUID]rules.Location, len(ids)), ids: ids}
	if entry.next > 0 {
		sc.last, sc.exists = entry.next-1, true
	}
	for _, id := range ids {
		if loc, ok := entry.ids[id]; ok {
			sc.found[id] = loc
		}
	}
	return sc, nil
}
