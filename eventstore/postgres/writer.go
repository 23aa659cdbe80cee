package postgres

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/internal/batch"
	"github.com/cyxwiz/central-server/eventstore/internal/rules"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
)

// appendReq is one Append waiting for a writer, with its arguments to
// append_events already built.
type appendReq struct {
	ctx      context.Context
	stream   string
	expected eventstore.ExpectedRevision
	ids      []uuid.UUID
	args     []any

	done chan struct{} // closed once res and err are set
	res  eventstore.AppendResult
	err  error
}

// maxBatchEvents bounds the events of appends committed together (one
// larger append still goes alone).
const maxBatchEvents = 8192

const appendSQL = `SELECT kind, ord, revision, pos FROM append_events($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`

func newAppendReq(ctx context.Context, lockNS int32, stream string, expected eventstore.ExpectedRevision, ids []uuid.UUID, events []eventstore.EventData) *appendReq {
	n := len(events)
	var (
		idText = make([]string, n)
		types  = make([]string, n)
		data   = make([]*string, n)
		raw    = make([][]byte, n)
		corr   = make([]string, n)
		cause  = make([]string, n)
		actor  = make([]string, n)
	)
	for i, e := range events {
		idText[i], types[i] = ids[i].String(), e.Type
		corr[i], cause[i], actor[i] = e.Metadata.CorrelationID, e.Metadata.CausationID, e.Metadata.Actor
		switch {
		case len(e.Data) == 0:
		case utf8.Valid(e.Data) && json.Valid(e.Data) && !strings.Contains(string(e.Data), `\u0000`):
			d := string(e.Data)
			data[i] = &d
		default:
			raw[i] = e.Data
		}
	}
	var kind int16
	rev, exact := expected.Revision()
	switch {
	case exact:
		kind = 3
	case expected.IsNoStream():
		kind = 1
	case expected.IsStreamExists():
		kind = 2
	}
	if rev > 1<<62 {
		rev = 1 << 62 // no stream gets there; the check fails as it should
	}
	return &appendReq{
		ctx: ctx, stream: stream, expected: expected, ids: ids,
		args: []any{lockNS, stream, kind, int64(rev), idText, types, data, raw, corr, cause, actor},
		done: make(chan struct{}),
	}
}

// validText refuses what a PostgreSQL text column cannot hold.
func validText(events []eventstore.EventData, stream string) error {
	bad := func(s string) bool { return !utf8.ValidString(s) || strings.ContainsRune(s, 0) }
	if bad(stream) {
		return fmt.Errorf("%w: stream name %q is not UTF-8 text without NUL", eventstore.ErrInvalidEvent, stream)
	}
	for i, e := range events {
		if bad(e.Type) || bad(e.Metadata.CorrelationID) || bad(e.Metadata.CausationID) || bad(e.Metadata.Actor) {
			return fmt.Errorf("%w: event %d of %q: type or metadata is not UTF-8 text without NUL", eventstore.ErrInvalidEvent, i, stream)
		}
	}
	return nil
}

func eventsOf(r *appendReq) int { return len(r.ids) }

func (r *appendReq) finish(res eventstore.AppendResult, err error) {
	r.res, r.err = res, err
	close(r.done)
}

// writeLoop is one writer: it takes every queued append, up to the batch
// limits, and commits them in one transaction. It returns once the queue
// is closed and drained.
func (s *Store) writeLoop() {
	var (
		b  []*appendReq
		ok bool
	)
	for {
		if b, ok = batch.Take(s.queue, b, s.opts.MaxBatch, maxBatchEvents, eventsOf); !ok {
			return
		}
		s.commit(b)
		clear(b)
	}
}

// outcome is what append_events said about one append, final only once
// the transaction has committed.
type outcome struct {
	res eventstore.AppendResult
	err error
}

// commit appends the batch in one transaction and answers each append.
// Appends whose callers have gone are dropped first. A batch that fails
// for any reason but a lost connection is retried one append at a time,
// so one bad append cannot fail the others.
func (s *Store) commit(batch []*appendReq) {
	defer s.inflight.Add(-len(batch))
	live := batch[:0:0]
	for _, r := range batch {
		if err := r.ctx.Err(); err != nil {
			r.finish(eventstore.AppendResult{}, err)
			continue
		}
		live = append(live, r)
	}
	if len(live) == 0 {
		return
	}
	// Streams locked in one order by every writer of every process: two
	// batches never wait for each other's locks in a cycle (but for two
	// names whose lock keys collide: PostgreSQL then aborts one batch as a
	// deadlock, and its appends are retried one by one below).
	slices.SortStableFunc(live, func(a, b *appendReq) int { return strings.Compare(a.stream, b.stream) })
	outs, err := s.run(live)
	if err != nil && len(live) > 1 && !transient(err) {
		for _, r := range live {
			outs, err := s.run([]*appendReq{r})
			if err != nil {
				r.finish(eventstore.AppendResult{}, appendErr(r.stream, err))
				continue
			}
			r.finish(outs[0].res, outs[0].err)
		}
		s.committed()
		return
	}
	for i, r := range live {
		if err != nil {
			r.finish(eventstore.AppendResult{}, appendErr(r.stream, err))
			continue
		}
		r.finish(outs[i].res, outs[i].err)
	}
	if err == nil {
		s.committed()
	}
}

func appendErr(stream string, err error) error {
	return fmt.Errorf("postgres event store: append to %q (not confirmed: retry with the same event ids to learn whether it was recorded): %w", stream, describe(err))
}

// committed wakes the local horizon tracker and asks the announcer to
// tell other processes.
func (s *Store) committed() {
	s.horizon.wake()
	select {
	case s.notify <- struct{}{}:
	default:
	}
}

// run executes the appends as one pipeline: PostgreSQL runs the
// statements of a pipeline up to its one Sync as a single implicit
// transaction, committed at the Sync; the results are final only once the
// batch is closed without error.
func (s *Store) run(batch []*appendReq) ([]outcome, error) {
	b := &pgx.Batch{}
	for _, r := range batch {
		b.Queue(appendSQL, r.args...)
	}
	br := s.pool.SendBatch(s.ctx, b)
	outs := make([]outcome, len(batch))
	for i, r := range batch {
		rows, err := br.Query()
		if err != nil {
			_ = br.Close()
			return nil, err
		}
		outs[i], err = readOutcome(r, rows)
		if err != nil {
			_ = br.Close()
			return nil, err
		}
	}
	if err := br.Close(); err != nil {
		return nil, err
	}
	s.commits.Add(1)
	s.appends.Add(uint64(len(batch)))
	return outs, nil
}

// readOutcome turns append_events' rows into the append's result.
func readOutcome(r *appendReq, rows pgx.Rows) (outcome, error) {
	defer rows.Close()
	var (
		kind               int16
		ord, revision, pos int64
		found              map[int]rules.Location
	)
	for rows.Next() {
		if err := rows.Scan(&kind, &ord, &revision, &pos); err != nil {
			return outcome{}, err
		}
		switch kind {
		case 0:
			return outcome{res: eventstore.AppendResult{NextRevision: uint64(revision), Position: uint64(pos)}}, nil
		case 1:
			return outcome{err: rules.CheckExpected(r.stream, r.expected, uint64(max(revision, 0)), revision >= 0)}, nil
		}
		if found == nil {
			found = map[int]rules.Location{}
		}
		found[int(ord)-1] = rules.Location{Stream: r.stream, Revision: uint64(revision), Position: uint64(pos)}
	}
	if err := rows.Err(); err != nil {
		return outcome{}, err
	}
	if found == nil {
		return outcome{}, fmt.Errorf("append_events returned nothing")
	}
	res, retry, err := rules.Dedupe(r.stream, r.ids, func(i int) (rules.Location, bool, error) {
		loc, ok := found[i]
		return loc, ok, nil
	})
	if err == nil && !retry {
		err = fmt.Errorf("append_events reported recorded ids that are not")
	}
	return outcome{res: res, err: err}, nil
}
