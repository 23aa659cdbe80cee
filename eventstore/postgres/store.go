package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/internal/live"
	"github.com/cyxwiz/central-server/eventstore/internal/rules"
	"github.com/google/uuid"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultSchema is the schema the log lives in when Options.Schema is "".
const DefaultSchema = "eventlog"

// Options configures a Store; every field is optional.
type Options struct {
	// Schema holds the log's tables (created if absent), so the log can
	// share a database with the read models. Default DefaultSchema.
	Schema string
	// Writers is how many connections commit appends at once, each
	// carrying every append queued when it starts (default 4).
	Writers int
	// MaxConns bounds the pool: writers, the horizon tracker and readers
	// (default Writers+4; a pool_max_conns in the URL wins).
	MaxConns int32
	// MaxBatch bounds the appends one writer commits together (default 256).
	MaxBatch int
	// Poll is how often the delivery horizon is recomputed without a
	// notification, the fallback when LISTEN misses one (default 250ms).
	Poll time.Duration
	// Logger receives connection trouble; nil discards it.
	Logger *slog.Logger
}

func (o *Options) defaults() {
	if o.Schema == "" {
		o.Schema = DefaultSchema
	}
	if o.Writers <= 0 {
		o.Writers = 4
	}
	if o.MaxConns <= 0 {
		o.MaxConns = int32(o.Writers) + 4
	}
	if o.MaxBatch <= 0 {
		o.MaxBatch = 256
	}
	if o.Poll <= 0 {
		o.Poll = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Store is an eventstore.Store in PostgreSQL. Any number of Stores, in
// any number of processes, may share one schema.
type Store struct {
	opts    Options
	pool    *pgxpool.Pool
	connCfg *pgx.ConnConfig // for the LISTEN connection
	channel string          // the NOTIFY channel of the schema
	lockNS  int32           // the first key of the streams' advisory locks
	self    string          // this Store's NOTIFY payload, ignored by its own listener
	log     *slog.Logger

	// mu guards closed; appenders hold it for reading while they enqueue.
	mu        sync.RWMutex
	closed    bool
	closeOnce sync.Once
	inflight  sync.WaitGroup // appends enqueued and not yet answered

	queue   chan *appendReq
	horizon *horizon
	notify  chan struct{} // a commit to announce to other processes
	commits atomic.Uint64 // transactions the writers committed
	appends atomic.Uint64 // appends they carried

	ctx    context.Context // ends at Close, after the appends
	cancel context.CancelFunc
	bg     sync.WaitGroup // writers, tracker, listener, announcer
	stop   chan struct{}  // closed first by Close: subscriptions and waiting readers end
	subs   sync.WaitGroup
}

var _ eventstore.Store = (*Store)(nil)

// Open connects to url (a PostgreSQL URL or DSN), creates the schema if
// needed and applies the embedded migrations under an advisory lock, so
// servers starting together migrate once. Errors say whether the server
// was unreachable, refused the credentials or lacked a privilege.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	opts.defaults()
	if len(opts.Schema) > 63 {
		return nil, fmt.Errorf("postgres event store: schema name %q is longer than 63 bytes", opts.Schema)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres event store: parse url: %w", err)
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	cfg.ConnConfig.RuntimeParams["application_name"] = "cyxwiz event store"
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres event store: %w", err)
	}
	h := fnv.New32a()
	h.Write([]byte(opts.Schema))
	runCtx, cancel := context.WithCancel(context.Background())
	s := &Store{
		opts:    opts,
		pool:    pool,
		connCfg: cfg.ConnConfig.Copy(),
		channel: fmt.Sprintf("cyxwiz_events_%08x", h.Sum32()),
		lockNS:  int32(h.Sum32()),
		self:    uuid.NewString(),
		log:     opts.Logger,
		queue:   make(chan *appendReq, 4*opts.MaxBatch),
		notify:  make(chan struct{}, 1),
		ctx:     runCtx,
		cancel:  cancel,
		stop:    make(chan struct{}),
	}
	if err := s.migrate(ctx); err != nil {
		cancel()
		pool.Close()
		return nil, err
	}
	s.horizon = newHorizon(s.pool)
	// One tick checks the tracker's queries work; Open does not wait for
	// the horizon (an append left open would hold start-up), readers do.
	if err := s.horizon.tick(ctx); err != nil {
		cancel()
		pool.Close()
		return nil, fmt.Errorf("postgres event store: %w", describe(err))
	}
	for range opts.Writers {
		s.bg.Go(s.writeLoop)
	}
	s.bg.Go(s.trackLoop)
	s.bg.Go(s.listenLoop)
	s.bg.Go(s.announceLoop)
	return s, nil
}

func (s *Store) migrate(ctx context.Context) error {
	if err := s.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres event store: connect: %w", describe(err))
	}
	_, err := s.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{s.opts.Schema}.Sanitize())
	var pgErr *pgconn.PgError
	// Two processes creating it at once: one of them gets a unique violation.
	if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "23505") {
		return fmt.Errorf("postgres event store: create schema %q: %w", s.opts.Schema, describe(err))
	}
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return err
	}
	h := fnv.New64a()
	h.Write([]byte("cyxwiz event store migrations\x00" + s.opts.Schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
	if err != nil {
		return err
	}
	db := stdlib.OpenDBFromPool(s.pool)
	defer db.Close()
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true),
		// Its own version table: the log may share a schema with the read models.
		goose.WithTableName("event_log_migrations"))
	if err != nil {
		return fmt.Errorf("postgres event store: migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("postgres event store: migrate schema %q: %w", s.opts.Schema, describe(err))
	}
	return nil
}

// Schema returns the schema the log lives in.
func (s *Store) Schema() string { return s.opts.Schema }

// Append implements eventstore.Store. It returns once the transaction
// holding the events has committed. If ctx ends first, or the connection
// fails during the commit, the append may or may not be recorded: retry
// it with the same event IDs to find out.
func (s *Store) Append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events ...eventstore.EventData) (eventstore.AppendResult, error) {
	ids, err := rules.Validate(stream, events)
	if err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := validText(events, stream); err != nil {
		return eventstore.AppendResult{}, err
	}
	if err := ctx.Err(); err != nil {
		return eventstore.AppendResult{}, err
	}
	r := newAppendReq(ctx, s.lockNS, stream, expected, ids, events)
	if err := s.enqueue(ctx, r); err != nil {
		return eventstore.AppendResult{}, err
	}
	select {
	case <-r.done:
		return r.res, r.err
	case <-ctx.Done():
		return eventstore.AppendResult{}, ctx.Err()
	}
}

func (s *Store) enqueue(ctx context.Context, r *appendReq) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s.closed {
		return eventstore.ErrClosed
	}
	s.inflight.Add(1) // before the send: a writer may answer at once
	select {
	case s.queue <- r:
		return nil
	case <-ctx.Done():
		s.inflight.Done()
		return ctx.Err()
	}
}

// reading holds the store open for a read; done must be called after.
func (s *Store) reading() (done func(), err error) {
	s.mu.RLock()
	if s.closed {
		s.mu.RUnlock()
		return nil, eventstore.ErrClosed
	}
	return s.mu.RUnlock, nil
}

const selectEvents = `SELECT position, stream, revision, id, type, coalesce(data::text::bytea, data_raw),
	correlation_id, causation_id, actor, recorded FROM events `

// ReadStream implements eventstore.Store.
func (s *Store) ReadStream(ctx context.Context, stream string, from uint64, max int) ([]eventstore.RecordedEvent, error) {
	done, err := s.reading()
	if err != nil {
		return nil, err
	}
	defer done()
	if from > 1<<62 {
		from = 1 << 62
	}
	limit := int64(max)
	if max <= 0 {
		limit = -1
	}
	rows, err := s.pool.Query(ctx, selectEvents+`WHERE stream = $1 AND revision >= $2 ORDER BY revision
		LIMIT CASE WHEN $3::bigint < 0 THEN NULL ELSE $3::bigint END`, stream, int64(from), limit)
	if err != nil {
		return nil, s.readErr(ctx, "read stream", err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, s.readErr(ctx, "read stream", err)
	}
	if len(events) == 0 {
		var exists bool
		if err := s.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM events WHERE stream = $1)`, stream).Scan(&exists); err != nil {
			return nil, s.readErr(ctx, "read stream", err)
		}
		if !exists {
			return nil, fmt.Errorf("%w: %q", eventstore.ErrStreamNotFound, stream)
		}
	}
	return events, nil
}

// ReadAll implements eventstore.Store. It returns only events below the
// delivery horizon (see the package doc), after waiting until the horizon
// covers every position handed out when it was called: what it returns is
// final, so paging on with after = the last position never skips an event
// that commits later. A transaction left open delays it.
func (s *Store) ReadAll(ctx context.Context, after uint64, max int) ([]eventstore.RecordedEvent, error) {
	done, err := s.reading()
	if err != nil {
		return nil, err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if max <= 0 {
		max = -1
	}
	events, err := s.readRange(ctx, after, s.horizon.safe(), max)
	if err != nil || len(events) == max {
		return events, err
	}
	safe, err := s.awaitHorizon(ctx)
	if err != nil {
		return nil, err
	}
	if len(events) > 0 {
		after = events[len(events)-1].Position
	}
	more, err := s.readRange(ctx, after, safe, max-len(events))
	if err != nil {
		return nil, err
	}
	return append(events, more...), nil
}

// awaitHorizon waits until every position handed out so far is final and
// returns the horizon.
func (s *Store) awaitHorizon(ctx context.Context) (uint64, error) {
	var issued uint64
	for {
		var err error
		if issued, err = lastIssued(ctx, s.pool); err == nil {
			break
		}
		if err = s.retryable(ctx, err); err != nil {
			return 0, s.readErr(ctx, "read horizon", err)
		}
	}
	for {
		head, changed := s.horizon.notifier.Head()
		if head >= issued {
			return head, nil
		}
		s.horizon.wake()
		select {
		case <-changed:
		case <-ctx.Done():
			return 0, ctx.Err()
		case <-s.stop:
			return 0, eventstore.ErrClosed
		}
	}
}

// readRange reads up to max (-1: all) events with after < position <= upTo.
func (s *Store) readRange(ctx context.Context, after, upTo uint64, max int) ([]eventstore.RecordedEvent, error) {
	if after >= upTo || max == 0 {
		return []eventstore.RecordedEvent{}, nil
	}
	rows, err := s.pool.Query(ctx, selectEvents+`WHERE position > $1 AND position <= $2 ORDER BY position
		LIMIT CASE WHEN $3::bigint < 0 THEN NULL ELSE $3::bigint END`, int64(after), int64(upTo), int64(max))
	if err != nil {
		return nil, s.readErr(ctx, "read log", err)
	}
	events, err := scanEvents(rows)
	if err != nil {
		return nil, s.readErr(ctx, "read log", err)
	}
	return events, nil
}

func scanEvents(rows pgx.Rows) ([]eventstore.RecordedEvent, error) {
	events := []eventstore.RecordedEvent{}
	for rows.Next() {
		var (
			e        eventstore.RecordedEvent
			pos, rev int64
			id       [16]byte
		)
		if err := rows.Scan(&pos, &e.Stream, &rev, &id, &e.Type, &e.Data,
			&e.Metadata.CorrelationID, &e.Metadata.CausationID, &e.Metadata.Actor, &e.Recorded); err != nil {
			rows.Close()
			return nil, err
		}
		e.Position, e.Revision, e.ID = uint64(pos), uint64(rev), uuidString(id)
		events = append(events, e)
	}
	return events, rows.Err()
}

// readErr wraps a read failure; ctx's own error is returned as is.
func (s *Store) readErr(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil && errors.Is(err, ctx.Err()) {
		return ctx.Err()
	}
	return fmt.Errorf("postgres event store: %s: %w", op, describe(err))
}

// SubscribeAll implements eventstore.Store. The subscription first waits
// for the horizon to cover every position handed out when it was called,
// so its CaughtUp means "every append acknowledged before SubscribeAll has
// been delivered". Connection failures are retried: the subscription
// resumes where it was once PostgreSQL is back.
func (s *Store) SubscribeAll(ctx context.Context, after uint64) (eventstore.Subscription, error) {
	done, err := s.reading()
	if err != nil {
		return nil, err
	}
	defer done()
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if _, err := s.awaitHorizon(ctx); err != nil {
		return nil, err
	}
	return live.Subscribe(ctx, live.Source{
		Notifier: s.horizon.notifier,
		Read: func(ctx context.Context, after uint64, max int) ([]eventstore.RecordedEvent, error) {
			for {
				events, err := s.readRange(ctx, after, s.horizon.safe(), max)
				if err == nil {
					return events, nil
				}
				if err = s.retryable(ctx, err); err != nil {
					return nil, err
				}
			}
		},
		Stop:    s.stop,
		Running: &s.subs,
	}, after), nil
}

// retryable returns nil after a pause if err is a connection failure worth
// retrying, else err (or the reason to give up).
func (s *Store) retryable(ctx context.Context, err error) error {
	if !transient(err) {
		return err
	}
	s.log.Warn("postgres event store: connection trouble, retrying", "err", err)
	select {
	case <-time.After(200 * time.Millisecond):
		return nil
	case <-ctx.Done():
		return ctx.Err()
	case <-s.stop:
		return eventstore.ErrClosed
	}
}

// Close waits for the appends already accepted, ends the subscriptions and
// releases the pool.
func (s *Store) Close() error {
	first := false
	s.closeOnce.Do(func() {
		first = true
		close(s.stop) // before the lock: a reader waiting for PostgreSQL holds it
	})
	if !first {
		return eventstore.ErrClosed
	}
	s.mu.Lock()
	s.closed = true
	s.mu.Unlock()
	s.inflight.Wait()
	s.subs.Wait()
	s.cancel()
	close(s.queue)
	s.bg.Wait()
	s.pool.Close()
	return nil
}

func uuidString(id [16]byte) string { return uuid.UUID(id).String() }
