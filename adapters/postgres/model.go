package postgres

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"log/slog"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/jackc/pgx/v5/stdlib"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

//go:embed migrations/*.sql
var migrations embed.FS

// DefaultName is the checkpoint name of the read model's projector.
const DefaultName = "readmodel"

// ErrNotMigrated is returned by Apply and the queries of a model whose
// schema is older than this binary's migrations (opened with SkipMigrate
// and not migrated since).
var ErrNotMigrated = errors.New("postgres read model: schema not migrated")

// ErrCheckpointBehind is returned by Apply when the stored checkpoint is
// behind what this process committed: PostgreSQL lost committed batches.
// The model refuses to go on; a restart resumes from the stored
// checkpoint and applies the lost events again.
var ErrCheckpointBehind = errors.New("postgres read model: the stored checkpoint went back")

// Options configure Open; zero fields take defaults.
type Options struct {
	// Schema is the PostgreSQL schema that holds every table (created if
	// absent); "" uses the connection's search_path (usually public).
	// Tests and `replay` build into fresh schemas and compare them.
	Schema string
	// Name is the projector's checkpoint name (default DefaultName).
	Name string
	// SkipMigrate opens without applying migrations; call Migrate before
	// use when the schema is not up to date.
	SkipMigrate bool
	// MaxJobsPerNode is the slot count behind free slots (sort by
	// availability); default projections.DefaultMaxJobsPerNode.
	MaxJobsPerNode int
	// WatchBuffer is the updates a job watcher may fall behind; default
	// projections.DefaultWatchBuffer.
	WatchBuffer int
	// AsyncCommit commits batches without waiting for the WAL flush
	// (synchronous_commit off), for a replay into a fresh schema. The
	// checkpoint commits with its rows, so a PostgreSQL crash loses both
	// together and never half a batch; but a running process then stops
	// with ErrCheckpointBehind and must restart to apply them again.
	AsyncCommit bool
	// MaxConns bounds the connection pool (default: pgxpool's).
	MaxConns int32
	// Logger receives the few things worth logging; nil discards.
	Logger *slog.Logger
}

// specCacheSize is how many decoded job specs a model keeps (a few MB).
const specCacheSize = 8192

// Model is the PostgreSQL read model. Every view lives in tables; the
// nodes and the open jobs (pending, assigned, running) are also mirrored in
// memory, loaded at Open and changed only after a batch commits, because the
// scheduler reads them many times a second and ListNodes/FindNodes must
// rank exactly as the memory model does (projections' pure filters and
// orders, over every node). Job lists, job reads, metrics, statistics,
// activity and payments are SQL.
//
// A Model is safe for concurrent use. One process projects into one
// schema at a time; a second writer is detected through the checkpoint
// row (locked in every batch's transaction) and makes the mirror reload.
type Model struct {
	pool   *pgxpool.Pool
	opts   Options
	log    *slog.Logger
	hub    *projections.Hub
	schema string
	specs  specCache

	// applyMu serialises Apply, Migrate and the mirror's loads: the mirror
	// is written only under it (and mu).
	applyMu sync.Mutex
	// fed is the position through which the watchers here have had their
	// updates (folded here, or caught up after another writer's batch);
	// under applyMu.
	fed    uint64
	fedSet bool
	// visMu orders batches against WatchJob: a watch reads the job and
	// registers under the read lock; a batch is folded (deciding which
	// jobs have watchers) and committed under the write lock, so no update
	// falls between a watch's snapshot and its registration.
	visMu sync.RWMutex

	// beforeCommit, when set (by tests), runs after a batch is written and
	// before its transaction commits.
	beforeCommit func(checkpoint uint64)

	mu         sync.RWMutex
	ready      bool
	checkpoint uint64
	mir        *mirror
	queue      projections.QueueCache
}

var (
	_ projections.ReadModel       = (*Model)(nil)
	_ projections.Queries         = (*Model)(nil)
	_ projections.StatsQueries    = (*Model)(nil)
	_ projections.ActivityQueries = (*Model)(nil)
	_ projections.PaymentQueries  = (*Model)(nil)
	_ projections.WalletQueries   = (*Model)(nil)
)

// Open connects to url (a PostgreSQL URL or DSN), creates the schema if
// needed, applies the embedded migrations (unless SkipMigrate) and loads
// the mirror.
func Open(ctx context.Context, url string, opts Options) (*Model, error) {
	if opts.Name == "" {
		opts.Name = DefaultName
	}
	if opts.MaxJobsPerNode <= 0 {
		opts.MaxJobsPerNode = projections.DefaultMaxJobsPerNode
	}
	if len(opts.Schema) > 63 {
		return nil, fmt.Errorf("postgres read model: schema name %q is longer than 63 bytes", opts.Schema)
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres read model: parse url: %w", err)
	}
	if opts.Schema != "" {
		cfg.ConnConfig.RuntimeParams["search_path"] = pgx.Identifier{opts.Schema}.Sanitize()
	}
	cfg.ConnConfig.RuntimeParams["timezone"] = "UTC"
	// Plan every execution with its parameters: tables grow from empty
	// during a replay, and a generic plan chosen while one was small (a
	// sequential scan for id = ANY($1)) would be kept for good.
	cfg.ConnConfig.RuntimeParams["plan_cache_mode"] = "force_custom_plan"
	if opts.MaxConns > 0 {
		cfg.MaxConns = opts.MaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres read model: connect: %w", err)
	}
	log := opts.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &Model{pool: pool, opts: opts, log: log, hub: projections.NewHub(opts.WatchBuffer), schema: opts.Schema,
		mir: newMirror(), specs: newSpecCache(specCacheSize)}
	m.queue.Reset()
	if err := m.open(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return m, nil
}

func (m *Model) open(ctx context.Context) error {
	if err := m.pool.Ping(ctx); err != nil {
		return fmt.Errorf("postgres read model: connect: %w", err)
	}
	if m.schema != "" {
		_, err := m.pool.Exec(ctx, "CREATE SCHEMA IF NOT EXISTS "+pgx.Identifier{m.schema}.Sanitize())
		var pgErr *pgconn.PgError
		// Two processes creating it at once: one of them gets a unique violation.
		if err != nil && !(errors.As(err, &pgErr) && pgErr.Code == "23505") {
			return fmt.Errorf("postgres read model: create schema %q: %w", m.schema, err)
		}
	}
	if !m.opts.SkipMigrate {
		_, err := m.Migrate(ctx)
		return err
	}
	current, target, err := m.versions(ctx)
	if err != nil {
		return err
	}
	if current == target {
		m.applyMu.Lock()
		defer m.applyMu.Unlock()
		return m.load(ctx)
	}
	return nil
}

// Pool returns the model's connection pool, for tools that read the
// tables directly.
func (m *Model) Pool() *pgxpool.Pool { return m.pool }

// Schema returns the schema the model's tables are in ("" for the
// connection's default).
func (m *Model) Schema() string { return m.schema }

// Close releases the pool. Watchers stay open; their channels simply get
// no more updates.
func (m *Model) Close() { m.pool.Close() }

func (m *Model) provider() (*goose.Provider, func(), error) {
	sub, err := fs.Sub(migrations, "migrations")
	if err != nil {
		return nil, nil, err
	}
	// One advisory lock per schema: migrations of one schema never run
	// twice at once, migrations of different schemas do not wait.
	h := fnv.New64a()
	h.Write([]byte("cyxwiz read model migrations\x00" + m.schema))
	locker, err := lock.NewPostgresSessionLocker(lock.WithLockID(int64(h.Sum64()>>1)), lock.WithLockTimeout(1, 300))
	if err != nil {
		return nil, nil, err
	}
	db := stdlib.OpenDBFromPool(m.pool)
	p, err := goose.NewProvider(goose.DialectPostgres, db, sub,
		goose.WithSessionLocker(locker), goose.WithDisableGlobalRegistry(true))
	if err != nil {
		db.Close()
		return nil, nil, err
	}
	return p, func() { db.Close() }, nil
}

// versions returns the schema's migration version and this binary's.
func (m *Model) versions(ctx context.Context) (current, target int64, err error) {
	p, done, err := m.provider()
	if err != nil {
		return 0, 0, fmt.Errorf("postgres read model: migrations: %w", err)
	}
	defer done()
	current, target, err = p.GetVersions(ctx)
	if err != nil {
		return 0, 0, fmt.Errorf("postgres read model: migration version: %w", err)
	}
	return current, target, nil
}

// SchemaVersion returns the schema's migration version (0 before the
// first migration) and the latest this binary embeds.
func (m *Model) SchemaVersion(ctx context.Context) (current, latest int64, err error) {
	return m.versions(ctx)
}

// Migrate applies the embedded migrations the schema lacks (under an
// advisory lock of the schema, so concurrent starts migrate once) and
// loads the mirror. It returns how many it applied: 0 when the schema was
// up to date.
func (m *Model) Migrate(ctx context.Context) (applied int, err error) {
	m.applyMu.Lock()
	defer m.applyMu.Unlock()
	p, done, err := m.provider()
	if err != nil {
		return 0, fmt.Errorf("postgres read model: migrations: %w", err)
	}
	defer done()
	res, err := p.Up(ctx)
	if err != nil {
		return len(res), fmt.Errorf("postgres read model: migrate: %w", err)
	}
	if len(res) > 0 {
		m.log.Info("postgres read model migrated", "schema", m.schema, "applied", len(res))
	}
	return len(res), m.load(ctx)
}

// load reads the checkpoint and the mirror; the caller holds applyMu.
func (m *Model) load(ctx context.Context) error {
	// Only when absent: an insert would wait for a batch in flight, whose
	// transaction holds the row.
	var exists bool
	if err := m.pool.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM checkpoints WHERE name = $1)`, m.opts.Name).Scan(&exists); err != nil {
		return fmt.Errorf("postgres read model: read checkpoint: %w", err)
	}
	if !exists {
		if _, err := m.pool.Exec(ctx, `INSERT INTO checkpoints (name, position) VALUES ($1, 0) ON CONFLICT (name) DO NOTHING`, m.opts.Name); err != nil {
			return fmt.Errorf("postgres read model: create checkpoint: %w", err)
		}
	}
	var cp uint64
	var mir *mirror
	err := pgx.BeginTxFunc(ctx, m.pool, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly}, func(tx pgx.Tx) error {
		var err error
		if cp, err = readCheckpoint(ctx, tx, m.opts.Name, false); err != nil {
			return err
		}
		mir, err = loadMirror(ctx, tx)
		return err
	})
	if err != nil {
		return fmt.Errorf("postgres read model: load: %w", err)
	}
	m.mu.Lock()
	m.ready, m.checkpoint, m.mir = true, cp, mir
	m.queue.Reset()
	m.mu.Unlock()
	return nil
}

func readCheckpoint(ctx context.Context, q pgx.Tx, name string, forUpdate bool) (uint64, error) {
	sql := `SELECT position FROM checkpoints WHERE name = $1`
	if forUpdate {
		sql += ` FOR UPDATE`
	}
	var pos int64
	if err := q.QueryRow(ctx, sql, name).Scan(&pos); err != nil {
		return 0, fmt.Errorf("read checkpoint %q: %w", name, err)
	}
	return uint64(pos), nil
}

// Checkpoint implements projections.ReadModel.
func (m *Model) Checkpoint() uint64 {
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.checkpoint
}

// Hub returns the hub job watchers are served from.
func (m *Model) Hub() *projections.Hub { return m.hub }

func (m *Model) checkReady() error {
	m.mu.RLock()
	defer m.mu.RUnlock()
	if !m.ready {
		return ErrNotMigrated
	}
	return nil
}

// ts converts a view's time to a column value: NULL for the zero time.
func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	t = t.UTC()
	return &t
}

// fromTS converts a nullable column value back.
func fromTS(t *time.Time) time.Time {
	if t == nil {
		return time.Time{}
	}
	return t.UTC()
}

// norm is a time as a timestamptz column keeps it: UTC, whole microseconds.
// Views are normalised after every event they fold, so what the mirror
// and watchers see is what the tables hold, and a fold gives the same
// result whatever the batch boundaries were.
func norm(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC().Truncate(time.Microsecond)
}

func normJob(v *projections.JobView) {
	v.AcceptedAt, v.SubmittedAt, v.AssignedAt = norm(v.AcceptedAt), norm(v.SubmittedAt), norm(v.AssignedAt)
	v.StartedAt, v.EndedAt = norm(v.StartedAt), norm(v.EndedAt)
}

func normNode(v *projections.NodeView) {
	v.RegisteredAt, v.WentOnlineAt, v.WentOfflineAt = norm(v.RegisteredAt), norm(v.WentOnlineAt), norm(v.WentOfflineAt)
	v.LastSeen, v.LastMetricsAt = norm(v.LastSeen), norm(v.LastMetricsAt)
	for i := range v.Reservations {
		if at := norm(v.Reservations[i].At); at != v.Reservations[i].At {
			// The slice may be shared with earlier copies of the view.
			rs := make([]domain.Reservation, len(v.Reservations))
			copy(rs, v.Reservations)
			for j := range rs {
				rs[j].At = norm(rs[j].At)
			}
			v.Reservations = rs
			return
		}
	}
}
