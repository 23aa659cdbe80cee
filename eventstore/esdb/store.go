package esdb

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/EventStore/EventStore-Client-Go/v4/esdb"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/internal/rules"
	"github.com/google/uuid"
)

// Errors of this adapter, beyond the port's.
var (
	// ErrUnsupportedPosition: the server returned an event without a
	// position, or with commit and prepare positions that differ, which
	// the port's single uint64 position cannot represent (see the package
	// doc).
	ErrUnsupportedPosition = errors.New("esdb: event position not representable")
	// ErrStreamDeleted: the stream was tombstoned on the server.
	ErrStreamDeleted = errors.New("esdb: stream is deleted")
	// ErrUnreachable: Open could not reach the server.
	ErrUnreachable = errors.New("esdb: EventStoreDB unreachable")
)

// maxAnyAttempts bounds the read → append loop of an Any (or strict)
// append under contention.
const maxAnyAttempts = 100

// Store is an eventstore.Store on an EventStoreDB server. It is safe for
// concurrent use.
type Store struct {
	cfg  esdb.Configuration
	opts options
	log  *slog.Logger
	url  string // redacted

	cmu            sync.RWMutex
	conn           *conn
	reconnectDelay time.Duration // under cmu
	outage         atomic.Bool

	mu     sync.RWMutex
	closed bool
	stop   chan struct{}  // closed by Close
	abort  chan struct{}  // closed when Close stops waiting for calls
	ops    sync.WaitGroup // appends and reads in flight
	subs   sync.WaitGroup // subscription goroutines and the prober

	index            *idIndex
	positionsChecked atomic.Bool // see checkReportedPosition
	positionMismatch sync.Once
}

var _ eventstore.Store = (*Store)(nil)

// Open connects to the EventStoreDB server at connString (esdb://host:port
// or esdb+discover://..., with ?tls=false for an insecure node) and checks
// that it answers. It fails with ErrUnreachable if the server cannot be
// reached within the connect timeout or ctx.
func Open(ctx context.Context, connString string, opts ...Option) (*Store, error) {
	o := defaultOptions()
	for _, opt := range opts {
		opt(&o)
	}
	safe := redact(connString)
	cfg, err := esdb.ParseConnectionString(connString)
	if err != nil {
		return nil, fmt.Errorf("esdb: connection string %s: %w", safe, err)
	}
	cfg.Logger = clientLogger(o.log)
	s := &Store{cfg: *cfg, opts: o, log: o.log.With("component", "esdb"), url: safe,
		stop: make(chan struct{}), abort: make(chan struct{}), index: newIDIndex()}
	cn, err := s.newConn()
	if err != nil {
		return nil, err
	}
	s.conn = cn
	if err := s.probe(ctx); err != nil {
		close(s.stop)
		go func() { _ = s.closeConn() }() // a probe may still be queued on it
		return nil, err
	}
	s.subs.Add(1)
	go s.probeLoop()
	return s, nil
}

// probe makes the client discover the node (the server-features handshake)
// and read the head of $all, within the connect timeout.
func (s *Store) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, s.opts.connectTimeout)
	defer cancel()
	var v *esdb.ServerVersion
	err := s.do(ctx, func(c *esdb.Client) (err error) {
		v, err = c.GetServerVersion() // takes no context: do stops waiting when ctx ends
		return err
	})
	var head uint64
	if err == nil {
		head, err = s.allHead(ctx)
	}
	if err != nil {
		return fmt.Errorf("%w at %s (connect timeout %s): %w", ErrUnreachable, s.url, s.opts.connectTimeout, err)
	}
	s.log.Info("connected to EventStoreDB", "url", s.url,
		"server_version", fmt.Sprintf("%d.%d.%d", v.Major, v.Minor, v.Patch), "head", head)
	if v.Major != 0 && (v.Major < 23 || v.Major == 23 && v.Minor < 10) {
		s.log.Warn("EventStoreDB before 23.10 sends no caught-up message; subscriptions detect it from the head of $all")
	}
	return nil
}

// begin registers an operation; it fails once Close has begun.
func (s *Store) begin() error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	s.ops.Add(1)
	return nil
}

// Close waits for the appends and reads in flight (at most 10s, after
// which they fail with ErrClosed), ends the subscriptions (their Err is
// nil) and closes the client.
func (s *Store) Close() error {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return eventstore.ErrClosed
	}
	s.closed = true
	close(s.stop)
	s.mu.Unlock()
	waited := make(chan struct{})
	go func() { s.ops.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(closeGrace):
		close(s.abort) // calls stuck on the server end with ErrClosed
		<-waited
	}
	s.subs.Wait()
	return s.closeConn()
}

// name is the stream's name on the server.
func (s *Store) name(stream string) string { return s.opts.namespace + stream }

// portStream returns the port's name of a server stream, false if the
// stream is outside the store's namespace or a system stream.
func (s *Store) portStream(serverName string) (string, bool) {
	if strings.HasPrefix(serverName, "$") || !strings.HasPrefix(serverName, s.opts.namespace) {
		return "", false
	}
	return serverName[len(s.opts.namespace):], true
}

// Append implements eventstore.Store.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	ids, err := rules.Validate(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if strings.HasPrefix(stream, "$") {
		return eventstore.AppendResult{}, fmt.Errorf("%w: stream %q: names starting with $ are EventStoreDB's system streams", eventstore.ErrInvalidEvent, stream)
	}
	for i, e := range events {
		if strings.HasPrefix(e.Type, "$") {
			return eventstore.AppendResult{}, fmt.Errorf("%w: event %d of %q: type %q: types starting with $ are EventStoreDB's system events", eventstore.ErrInvalidEvent, i, stream, e.Type)
		}
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := s.begin(); err != nil {
		return eventstore.AppendResult{}, err
	}
	defer s.ops.Done()
	data := make([]esdb.EventData, len(events))
	for i, e := range events {
		data[i] = toEventData(ids[i], e)
	}
	if expected.IsAny() || s.opts.strict {
		return s.appendChecked(ctx, stream, expected, ids, data)
	}
	res, err := s.appendOnce(ctx, stream, toExpected(expected), data)
	var wrong *wrongVersion
	if errors.As(err, &wrong) {
		return s.resolveConflict(ctx, stream, expected, ids, wrong)
	}
	return res, err
}

// appendChecked reads the stream, dedupes, checks expected against what it
// read and appends at exactly that revision, looping on a conflict.
func (s *Store) appendChecked(ctx context.Context, stream string, expected eventstore.ExpectedRevision, ids []uuid.UUID, data []esdb.EventData) (eventstore.AppendResult, error) {
	for range maxAnyAttempts {
		scan, err := s.scan(ctx, stream, ids)
		if err != nil {
			return eventstore.AppendResult{}, err
		}
		res, retry, err := rules.Dedupe(stream, ids, scan.lookup(stream))
		if err != nil || retry {
			return res, err
		}
		if err := rules.CheckExpected(stream, expected, scan.last, scan.exists); err != nil {
			return eventstore.AppendResult{}, err
		}
		res, err = s.appendOnce(ctx, stream, toExpected(eventstore.ExpectedFor(scan.last, scan.exists)), data)
		var wrong *wrongVersion
		if errors.As(err, &wrong) {
			continue // someone appended in between: look again
		}
		return res, err
	}
	return eventstore.AppendResult{}, fmt.Errorf("esdb: append to %q: stream kept changing for %d attempts: %w", stream, maxAnyAttempts, eventstore.ErrWrongExpectedRevision)
}

// resolveConflict turns the server's wrong expected version into the
// port's answer: the original result of a retry, ErrDuplicateEventID, or
// the typed concurrency error.
func (s *Store) resolveConflict(ctx context.Context, stream string, expected eventstore.ExpectedRevision, ids []uuid.UUID, wrong *wrongVersion) (eventstore.AppendResult, error) {
	scan, err := s.scan(ctx, stream, ids)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	res, retry, err := rules.Dedupe(stream, ids, scan.lookup(stream))
	if err != nil || retry {
		return res, err
	}
	last, exists := scan.last, scan.exists
	if wrong.known {
		last, exists = wrong.current, wrong.exists
	}
	return eventstore.AppendResult{}, &eventstore.WrongExpectedRevisionError{Stream: stream, Expected: expected, Actual: last, Exists: exists}
}

// wrongVersion is the server's wrong-expected-version answer.
type wrongVersion struct {
	current uint64
	exists  bool
	known   bool // current and exists were parsed from the answer
	err     error
}

func (w *wrongVersion) Error() string { return w.err.Error() }

// currentRe reads the stream's revision out of the v4 client's
// wrong-expected-version error, which carries it only in its text:
// "wrong expected version: expecting '%s' but got '%s'".
var currentRe = regexp.MustCompile(`but got '([^']*)'`)

func parseWrongVersion(err *esdb.Error) *wrongVersion {
	w := &wrongVersion{err: err}
	if err.Err() == nil {
		return w
	}
	m := currentRe.FindStringSubmatch(err.Err().Error())
	if m == nil {
		return w
	}
	if m[1] == "no_stream" {
		w.known = true
		return w
	}
	if n, perr := strconv.ParseUint(m[1], 10, 64); perr == nil {
		w.current, w.exists, w.known = n, true, true
	}
	return w
}

// appendOnce sends one append. A wrong expected version is a *wrongVersion.
func (s *Store) appendOnce(ctx context.Context, stream string, expected esdb.ExpectedRevision, data []esdb.EventData) (eventstore.AppendResult, error) {
	var wr *esdb.WriteResult
	err := s.do(ctx, func(c *esdb.Client) (err error) {
		wr, err = c.AppendToStream(ctx, s.name(stream), esdb.AppendToStreamOptions{ExpectedRevision: expected, Deadline: s.appendDeadline(ctx, len(data))}, data...)
		return err
	})
	if err != nil {
		var e *esdb.Error
		if errors.As(err, &e) && e.Code() == esdb.ErrorCodeWrongExpectedVersion {
			return eventstore.AppendResult{}, parseWrongVersion(e)
		}
		return eventstore.AppendResult{}, s.mapErr(ctx, "append to", stream, err)
	}
	res := eventstore.AppendResult{NextRevision: wr.NextExpectedVersion}
	reported := uint64(0)
	if len(data) == 1 && wr.CommitPosition != 0 && wr.CommitPosition == wr.PreparePosition && wr.CommitPosition != math.MaxUint64 {
		reported = wr.CommitPosition
		if s.positionsChecked.Load() {
			res.Position = reported
			return res, nil
		}
	}
	// Several events (the response has the write's position, not the last
	// event's), a retry the server recognised (no position), or the first
	// single-event append: read the last event back.
	events, err := s.readStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Revision(res.NextRevision)}, 1)
	if err != nil {
		return eventstore.AppendResult{}, fmt.Errorf("esdb: append to %q: read back revision %d: %w", stream, res.NextRevision, err)
	}
	if len(events) != 1 {
		return eventstore.AppendResult{}, fmt.Errorf("esdb: append to %q: revision %d not found after the append", stream, res.NextRevision)
	}
	res.Position = events[0].Position
	if reported != 0 {
		s.checkReportedPosition(reported, res.Position)
	}
	return res, nil
}

// checkReportedPosition calibrates the single-event fast path once: it is
// taken only if the position the server reported for an append is the
// position the event is read back at. Otherwise every append reads its
// last event back.
func (s *Store) checkReportedPosition(reported, actual uint64) {
	if reported == actual {
		if s.positionsChecked.CompareAndSwap(false, true) {
			s.log.Debug("append responses carry the event's position; single-event appends trust them")
		}
		return
	}
	s.positionMismatch.Do(func() {
		s.log.Warn("this server reports append positions that are not the event's position; every append reads its event back",
			"reported", reported, "actual", actual)
	})
}

// appendDeadline is the gRPC deadline of an append: ctx's if it has one,
// else the connection string's defaultDeadline (or 10s, the client's
// default) plus 5ms an event, so a large append is not cut short.
func (s *Store) appendDeadline(ctx context.Context, events int) *time.Duration {
	if dl, ok := ctx.Deadline(); ok {
		d := time.Until(dl)
		return &d
	}
	base := 10 * time.Second
	if s.cfg.DefaultDeadline != nil {
		base = *s.cfg.DefaultDeadline
	}
	d := base + time.Duration(events)*5*time.Millisecond
	return &d
}

// streamScan is what a read of a stream tells about an append's IDs.
type streamScan struct {
	last   uint64
	exists bool
	found  map[uuid.UUID]rules.Location
	ids    []uuid.UUID
}

func (sc streamScan) lookup(stream string) rules.LookupFunc {
	return func(i int) (rules.Location, bool, error) {
		loc, ok := sc.found[sc.ids[i]]
		return loc, ok, nil
	}
}

// scanBackwards reads stream backwards until every one of ids is found or
// the stream's start is reached.
func (s *Store) scanBackwards(ctx context.Context, stream string, ids []uuid.UUID) (streamScan, error) {
	sc := streamScan{found: make(map[uuid.UUID]rules.Location, len(ids)), ids: ids}
	want := make(map[uuid.UUID]struct{}, len(ids))
	for _, id := range ids {
		want[id] = struct{}{}
	}
	var found map[uuid.UUID]rules.Location
	err := s.do(ctx, func(c *esdb.Client) error {
		var err error
		sc.last, sc.exists, found, err = s.scanBackwardsWith(ctx, c, stream, want)
		return err
	})
	if err != nil {
		return streamScan{}, err
	}
	sc.found = found
	return sc, nil
}

func (s *Store) scanBackwardsWith(ctx context.Context, c *esdb.Client, stream string, want map[uuid.UUID]struct{}) (last uint64, exists bool, found map[uuid.UUID]rules.Location, err error) {
	found = make(map[uuid.UUID]rules.Location, len(want))
	rs, err := c.ReadStream(ctx, s.name(stream), esdb.ReadStreamOptions{Direction: esdb.Backwards, From: esdb.End{}}, math.MaxInt64)
	if err != nil {
		return 0, false, nil, s.mapErr(ctx, "read", stream, err)
	}
	defer rs.Close()
	for first := true; ; first = false {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return last, exists, found, nil
		}
		if err != nil {
			err = s.mapErr(ctx, "read", stream, err)
			if errors.Is(err, eventstore.ErrStreamNotFound) {
				return 0, false, found, nil
			}
			return 0, false, nil, err
		}
		rec := ev.OriginalEvent()
		if first {
			last, exists = rec.EventNumber, true
		}
		if _, ok := want[rec.EventID]; !ok {
			continue
		}
		e, err := s.toRecorded(rec, stream) // checks the position
		if err != nil {
			return 0, false, nil, err
		}
		found[rec.EventID] = rules.Location{Stream: stream, Revision: e.Revision, Position: e.Position}
		if len(found) == len(want) {
			return last, exists, found, nil
		}
	}
}

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.ops.Done()
	count := uint64(math.MaxInt64)
	if max > 0 {
		count = uint64(max)
	}
	return s.readStream(ctx, stream, esdb.ReadStreamOptions{From: esdb.Revision(from)}, count)
}

// readStream reads a stream.
func (s *Store) readStream(ctx context.Context, stream string, opts esdb.ReadStreamOptions, count uint64) ([]eventstore.RecordedEvent, error) {
	var out []eventstore.RecordedEvent
	err := s.do(ctx, func(c *esdb.Client) (err error) {
		out, err = s.readStreamWith(ctx, c, stream, opts, count)
		return err
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

func (s *Store) readStreamWith(ctx context.Context, c *esdb.Client, stream string, opts esdb.ReadStreamOptions, count uint64) ([]eventstore.RecordedEvent, error) {
	rs, err := c.ReadStream(ctx, s.name(stream), opts, count)
	if err != nil {
		return nil, s.mapErr(ctx, "read", stream, err)
	}
	defer rs.Close()
	out := []eventstore.RecordedEvent{}
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return out, nil
		}
		if err != nil {
			return nil, s.mapErr(ctx, "read", stream, err)
		}
		rec := ev.OriginalEvent()
		e, err := s.toRecorded(rec, stream)
		if err != nil {
			return nil, err
		}
		out = append(out, e)
	}
}

// ReadAll implements eventstore.Store. It reads $all in batches and drops
// system events and, with WithNamespace, other namespaces' events.
func (s *Store) ReadAll(ctx context.Context, after uint64, max int) ([]eventstore.RecordedEvent, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if err := s.begin(); err != nil {
		return nil, err
	}
	defer s.ops.Done()
	out := []eventstore.RecordedEvent{}
	from := after
	for {
		page := s.opts.readBatch
		if max > 0 && max-len(out)+1 < page {
			page = max - len(out) + 1 // +1: the read starts at from, inclusive
		}
		n, last, err := s.readAllPage(ctx, from, page, func(e eventstore.RecordedEvent) bool {
			out = append(out, e)
			return max <= 0 || len(out) < max
		})
		if err != nil {
			return nil, err
		}
		if max > 0 && len(out) >= max || n < page {
			return out, nil
		}
		if last <= from {
			return nil, fmt.Errorf("esdb: read $all after %d: no progress past %d", after, last)
		}
		from = last
	}
}

// readAllPage reads up to page events of $all from position from
// (inclusive; the event at from itself is skipped) and hands the user
// events to each until it returns false. It returns how many events the
// server sent and the position of the last one.
func (s *Store) readAllPage(ctx context.Context, from uint64, page int, each func(eventstore.RecordedEvent) bool) (int, uint64, error) {
	var start esdb.AllPosition = esdb.Start{}
	if from > 0 {
		start = esdb.Position{Commit: from, Prepare: from}
	}
	var events []eventstore.RecordedEvent
	var n int
	var last uint64
	err := s.do(ctx, func(c *esdb.Client) (err error) {
		events, n, last, err = s.readAllPageWith(ctx, c, start, from, page)
		return err
	})
	if err != nil {
		return 0, 0, err
	}
	for _, e := range events {
		if !each(e) {
			return page, e.Position, nil
		}
	}
	return n, last, nil
}

func (s *Store) readAllPageWith(ctx context.Context, c *esdb.Client, start esdb.AllPosition, from uint64, page int) (events []eventstore.RecordedEvent, n int, last uint64, err error) {
	rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{From: start}, uint64(page))
	if err != nil {
		return nil, 0, 0, s.mapErr(ctx, "read", "$all", err)
	}
	defer rs.Close()
	last = from
	for {
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return events, n, last, nil
		}
		if err != nil {
			return nil, 0, 0, s.mapErr(ctx, "read", "$all", err)
		}
		n++
		rec := ev.OriginalEvent()
		stream, ok := s.portStream(rec.StreamID)
		if !ok || strings.HasPrefix(rec.EventType, "$") {
			if rec.Position.Commit > last {
				last = rec.Position.Commit
			}
			continue
		}
		e, err := s.toRecorded(rec, stream)
		if err != nil {
			return nil, 0, 0, err
		}
		if e.Position <= from {
			continue
		}
		last = e.Position
		events = append(events, e)
	}
}

// allHead returns the position of the last event of $all, system events
// included (0 for an empty log).
func (s *Store) allHead(ctx context.Context) (uint64, error) {
	var head uint64
	err := s.do(ctx, func(c *esdb.Client) error {
		rs, err := c.ReadAll(ctx, esdb.ReadAllOptions{Direction: esdb.Backwards, From: esdb.End{}}, 1)
		if err != nil {
			return s.mapErr(ctx, "read", "$all", err)
		}
		defer rs.Close()
		ev, err := rs.Recv()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return s.mapErr(ctx, "read", "$all", err)
		}
		head = ev.OriginalEvent().Position.Commit
		return nil
	})
	return head, err
}

// mapErr maps a client error to the port's errors.
func (s *Store) mapErr(ctx context.Context, op, stream string, err error) error {
	if ctxErr := ctx.Err(); ctxErr != nil {
		return fmt.Errorf("esdb: %s %q: %w", op, stream, ctxErr)
	}
	var e *esdb.Error
	if errors.As(err, &e) {
		switch e.Code() {
		case esdb.ErrorCodeResourceNotFound:
			return fmt.Errorf("esdb: %s %q: %w", op, stream, eventstore.ErrStreamNotFound)
		case esdb.ErrorCodeStreamDeleted:
			return fmt.Errorf("esdb: %s %q: %w", op, stream, ErrStreamDeleted)
		}
	}
	return fmt.Errorf("esdb: %s %q: %w", op, stream, err)
}

// wireMetadata is the port's Metadata as the event's custom metadata.
type wireMetadata struct {
	CorrelationID string `json:"$correlationId,omitempty"`
	CausationID   string `json:"$causationId,omitempty"`
	Actor         string `json:"actor,omitempty"`
}

func toEventData(id uuid.UUID, e eventstore.EventData) esdb.EventData {
	ct := esdb.ContentTypeJson
	if len(e.Data) > 0 && !json.Valid(e.Data) {
		ct = esdb.ContentTypeBinary
	}
	var meta []byte
	if e.Metadata != (eventstore.Metadata{}) {
		meta, _ = json.Marshal(wireMetadata(e.Metadata)) // strings only: cannot fail
	}
	return esdb.EventData{EventID: id, EventType: e.Type, ContentType: ct, Data: e.Data, Metadata: meta}
}

// toRecorded maps a recorded event; stream is the port's stream name.
func (s *Store) toRecorded(rec *esdb.RecordedEvent, stream string) (eventstore.RecordedEvent, error) {
	p := rec.Position
	if p.Commit != p.Prepare || p.Commit == 0 || p.Commit == math.MaxUint64 {
		return eventstore.RecordedEvent{}, fmt.Errorf("%w: event %s of %q has commit position %d, prepare position %d",
			ErrUnsupportedPosition, rec.EventID, stream, p.Commit, p.Prepare)
	}
	e := eventstore.RecordedEvent{
		ID:       rec.EventID.String(),
		Type:     rec.EventType,
		Stream:   stream,
		Revision: rec.EventNumber,
		Position: p.Commit,
		Recorded: rec.CreatedDate.UTC(),
	}
	if len(rec.Data) > 0 {
		e.Data = rec.Data
	}
	if len(rec.UserMetadata) > 0 {
		var m wireMetadata
		if err := json.Unmarshal(rec.UserMetadata, &m); err != nil {
			s.log.Debug("event metadata is not this adapter's JSON; ignored", "event", e.ID, "stream", stream, "err", err)
		} else {
			e.Metadata = eventstore.Metadata(m)
		}
	}
	return e, nil
}

func toExpected(e eventstore.ExpectedRevision) esdb.ExpectedRevision {
	if r, ok := e.Revision(); ok {
		return esdb.Revision(r)
	}
	switch {
	case e.IsNoStream():
		return esdb.NoStream{}
	case e.IsStreamExists():
		return esdb.StreamExists{}
	default:
		return esdb.Any{}
	}
}

// redact hides the password of a connection string.
func redact(conn string) string {
	u, err := url.Parse(conn)
	if err == nil {
		if _, has := u.User.Password(); has {
			u.User = url.UserPassword(u.User.Username(), "REDACTED")
		}
		return u.String()
	}
	if scheme, rest, ok := strings.Cut(conn, "://"); ok {
		if _, host, ok := strings.Cut(rest, "@"); ok {
			return scheme + "://REDACTED@" + host
		}
	}
	return conn
}
