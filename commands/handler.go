package commands

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"log/slog"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
	lru "github.com/hashicorp/golang-lru/v2"
)

// Codec turns domain events into log payloads and back.
type Codec interface {
	Encode(v any) (name string, data []byte, err error)
	Decode(name string, data []byte) (any, error)
}

// Policy is the write side's configuration.
type Policy struct {
	MaxJobsPerNode   int
	MinReputation    float64
	MaxRetries       int // requeues before a job fails
	Limits           domain.Limits
	PenaltyOffline   float64 // reputation lost going offline with jobs
	PenaltyReject    float64 // reputation lost rejecting or missing an assignment
	PenaltyTimeout   float64 // reputation lost letting a job time out
	PenaltyFailure   float64 // reputation lost reporting a job failed
	RewardSuccess    float64 // reputation gained completing a job
	ConflictRetries  int     // attempts of a command on concurrent writes
	AllowUnpaidJobs  bool
	ReservationGrace time.Duration // an orphaned reservation older than this is released
	AggregateCache   int           // folded aggregates kept in memory (streams)
	// UnclaimedDepositAge is how old an unclaimed deposit must be before an
	// operator may return it to its payer.
	UnclaimedDepositAge time.Duration
}

// DefaultPolicy matches config.toml's defaults.
func DefaultPolicy() Policy {
	return Policy{
		MaxJobsPerNode: 5, MaxRetries: 3, Limits: domain.DefaultLimits,
		PenaltyOffline: 0.05, PenaltyReject: 0.02, PenaltyTimeout: 0.05,
		PenaltyFailure: 0.03, RewardSuccess: 0.01,
		ConflictRetries: 8, AllowUnpaidJobs: true, ReservationGrace: 30 * time.Second,
		UnclaimedDepositAge: time.Hour,
	}
}

// Handler executes commands against the event store.
type Handler struct {
	store  eventstore.Store
	codec  Codec
	now    func() time.Time
	policy Policy
	log    *slog.Logger
	cache  *lru.Cache[string, any] // stream → folded aggregate
	chain  Chain                   // nil: payments are recorded as skipped
	locks  [1024]sync.Mutex        // stream shard → writer turn
}

// NewHandler builds a Handler; now is the clock (time.Now in production).
func NewHandler(store eventstore.Store, codec Codec, now func() time.Time, policy Policy, log *slog.Logger) *Handler {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if policy.ConflictRetries <= 0 {
		policy.ConflictRetries = 8
	}
	if policy.AggregateCache <= 0 {
		policy.AggregateCache = 20_000
	}
	cache, err := lru.New[string, any](policy.AggregateCache)
	if err != nil {
		panic(err) // only for a size ≤ 0, excluded above
	}
	return &Handler{store: store, codec: codec, now: now, policy: policy, log: log, cache: cache}
}

// Policy returns the handler's policy.
func (h *Handler) Policy() Policy { return h.policy }

// ErrConflict is returned when a command kept losing races to concurrent
// writers of the same stream; the caller may retry later.
var ErrConflict = errors.New("aborted: too many concurrent changes; retry")

type metaKey struct{}

// WithMetadata attaches correlation and actor metadata to ctx; every event
// appended under ctx carries it.
func WithMetadata(ctx context.Context, m eventstore.Metadata) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

func metadataFrom(ctx context.Context) eventstore.Metadata {
	m, _ := ctx.Value(metaKey{}).(eventstore.Metadata)
	return m
}

type aggregate[A any] interface {
	Apply(domain.Event)
	Version() int
	Clone() A
}

// load returns the stream folded into an aggregate. Folded aggregates are
// cached by stream: a load reads only the events recorded since (events
// are immutable, so a cached fold is never wrong, only behind).
func load[A aggregate[A]](ctx context.Context, h *Handler, stream string, fresh func() A) (A, error) {
	agg := fresh()
	if v, ok := h.cache.Get(stream); ok {
		if cached, ok := v.(A); ok {
			agg = cached.Clone()
		}
	}
	recs, err := h.store.ReadStream(ctx, stream, uint64(agg.Version()), 0)
	if err != nil && !errors.Is(err, eventstore.ErrStreamNotFound) {
		return agg, fmt.Errorf("read %s: %w", stream, err)
	}
	for i := range recs {
		v, err := h.codec.Decode(recs[i].Type, recs[i].Data)
		if err != nil {
			return agg, fmt.Errorf("decode %s@%d: %w", stream, recs[i].Revision, err)
		}
		e, ok := v.(domain.Event)
		if !ok {
			return agg, fmt.Errorf("decode %s@%d: %T is not a domain event", stream, recs[i].Revision, v)
		}
		agg.Apply(e)
	}
	if len(recs) > 0 {
		h.cache.Add(stream, agg.Clone())
	}
	return agg, nil
}

// update runs load → decide → append, retrying the whole cycle when another
// writer changed the stream in between, after a short random pause that
// grows with each conflict so that contenders spread out.
func update[A aggregate[A]](ctx context.Context, h *Handler, stream string, fresh func() A, decide func(A) ([]domain.Event, error)) (A, eventstore.AppendResult, error) {
	return updateN(ctx, h, h.policy.ConflictRetries, stream, fresh, decide)
}

func updateN[A aggregate[A]](ctx context.Context, h *Handler, attempts int, stream string, fresh func() A, decide func(A) ([]domain.Event, error)) (A, eventstore.AppendResult, error) {
	var zero A
	// Writers of one stream in this process take turns, so they do not
	// spend their retries on each other (a node finishing 50 jobs at once
	// releases 50 slots on one stream); other processes are still kept
	// apart by the expected revision.
	mu := h.streamLock(stream)
	mu.Lock()
	defer mu.Unlock()
	for attempt := range attempts {
		if attempt > 0 {
			if err := sleepCtx(ctx, conflictPause(attempt)); err != nil {
				return zero, eventstore.AppendResult{}, err
			}
		}
		agg, err := load(ctx, h, stream, fresh)
		if err != nil {
			return zero, eventstore.AppendResult{}, err
		}
		events, err := decide(agg)
		if err != nil || len(events) == 0 {
			return agg, eventstore.AppendResult{}, err
		}
		expected := eventstore.ExpectedFor(uint64(agg.Version()-1), agg.Version() > 0)
		res, err := h.append(ctx, stream, expected, events)
		if errors.Is(err, eventstore.ErrWrongExpectedRevision) {
			continue
		}
		if err != nil {
			return zero, eventstore.AppendResult{}, err
		}
		for _, e := range events {
			agg.Apply(e)
		}
		h.cache.Add(stream, agg.Clone())
		return agg, res, nil
	}
	return zero, eventstore.AppendResult{}, fmt.Errorf("%s: %w", stream, ErrConflict)
}

// streamLock returns the mutex of a stream's shard. Decisions never update
// another stream while holding it, so shards cannot deadlock.
func (h *Handler) streamLock(stream string) *sync.Mutex {
	f := fnv.New32a()
	f.Write([]byte(stream))
	return &h.locks[f.Sum32()%uint32(len(h.locks))]
}

// conflictPause is a random pause in [0, 2^attempt ms), at most 64 ms.
func conflictPause(attempt int) time.Duration {
	return time.Duration(rand.Int64N(int64(time.Millisecond) << min(attempt, 6)))
}

// runEvery runs step on every tick of interval and every kick (nil: none)
// until ctx ends: the loop of the process managers.
func runEvery(ctx context.Context, interval time.Duration, kick <-chan struct{}, step func(context.Context)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-kick:
		case <-t.C:
		}
		step(ctx)
	}
}

// sleepCtx pauses for d, or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

func (h *Handler) append(ctx context.Context, stream string, expected eventstore.ExpectedRevision, events []domain.Event) (eventstore.AppendResult, error) {
	meta := metadataFrom(ctx)
	data := make([]eventstore.EventData, len(events))
	for i, e := range events {
		name, payload, err := h.codec.Encode(e)
		if err != nil {
			return eventstore.AppendResult{}, fmt.Errorf("encode %s: %w", e.EventName(), err)
		}
		data[i] = eventstore.EventData{ID: uuid.NewString(), Type: name, Data: payload, Metadata: meta}
	}
	// An append that has begun is seen through even if the caller goes
	// away (a client hangs up, the server shuts down): its outcome is then
	// known, and a shutdown that stopped every caller has nothing in flight.
	return h.store.Append(context.WithoutCancel(ctx), stream, expected, data...)
}

func newJob() *domain.Job   { return &domain.Job{} }
func newNode() *domain.Node { return &domain.Node{} }

// LoadJob returns a job as the log has it.
func (h *Handler) LoadJob(ctx context.Context, jobID string) (*domain.Job, error) {
	return load(ctx, h, domain.JobStream(jobID), newJob)
}

// LoadNode returns a node as the log has it.
func (h *Handler) LoadNode(ctx context.Context, nodeID string) (*domain.Node, error) {
	return load(ctx, h, domain.NodeStream(nodeID), newNode)
}

func (h *Handler) updateJob(ctx context.Context, jobID string, decide func(*domain.Job) ([]domain.Event, error)) (*domain.Job, eventstore.AppendResult, error) {
	return update(ctx, h, domain.JobStream(jobID), newJob, func(j *domain.Job) ([]domain.Event, error) {
		if !j.Exists() {
			return nil, fmt.Errorf("%w: job %s does not exist", domain.ErrNotFound, jobID)
		}
		return decide(j)
	})
}

func (h *Handler) updateNode(ctx context.Context, nodeID string, decide func(*domain.Node) ([]domain.Event, error)) (*domain.Node, eventstore.AppendResult, error) {
	return update(ctx, h, domain.NodeStream(nodeID), newNode, func(n *domain.Node) ([]domain.Event, error) {
		if !n.Exists() {
			return nil, fmt.Errorf("%w: node %s is not registered", domain.ErrNotFound, nodeID)
		}
		return decide(n)
	})
}
