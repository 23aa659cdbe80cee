package commands_test

// Shared fixture of the write-side tests: a Handler over a real event
// store (memory, or bolt in a temp dir with fsync on), a fake clock, and
// helpers that read streams back and fold them.

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/bolt"
	"github.com/cyxwiz/central-server/eventstore/memory"
	"github.com/cyxwiz/central-server/projections"
	projmem "github.com/cyxwiz/central-server/projections/memory"
	"github.com/google/uuid"
)

// fakeClock is a settable clock, safe for concurrent use.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock() *fakeClock {
	return &fakeClock{t: time.Date(2026, 3, 14, 9, 26, 53, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
	return c.t
}

// storeKind opens a fresh store for one test.
type storeKind struct {
	name string
	open func(t testing.TB) eventstore.Store
}

var (
	memoryKind = storeKind{"memory", func(t testing.TB) eventstore.Store {
		s := memory.New()
		t.Cleanup(func() { _ = s.Close() })
		return s
	}}
	// boltKind is the embedded store with fsync on (its default).
	boltKind = storeKind{"bolt", func(t testing.TB) eventstore.Store {
		s, err := bolt.Open(filepath.Join(t.TempDir(), "events.db"))
		if err != nil {
			t.Fatalf("open bolt store: %v", err)
		}
		t.Cleanup(func() { _ = s.Close() })
		return s
	}}
	bothKinds = []storeKind{memoryKind, boltKind}
)

// harness is a Handler over a real store.
type harness struct {
	t      testing.TB
	ctx    context.Context
	store  eventstore.Store
	codec  *eventstore.Registry
	clock  *fakeClock
	policy commands.Policy
	h      *commands.Handler
	logs   *logBuffer // warnings of the handler and process managers
	log    *slog.Logger
}

// logBuffer collects log lines; the test prints them if it fails.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testPolicy is DefaultPolicy with values the tests assert on.
func testPolicy() commands.Policy {
	p := commands.DefaultPolicy()
	p.MaxJobsPerNode = 5
	p.MaxRetries = 3
	p.PenaltyOffline = 0.05
	p.PenaltyReject = 0.02
	p.PenaltyTimeout = 0.04
	p.ReservationGrace = 30 * time.Second
	return p
}

func newHarness(t testing.TB, kind storeKind, tweak func(*commands.Policy)) *harness {
	return newHarnessOn(t, kind.open(t), tweak)
}

func newHarnessOn(t testing.TB, store eventstore.Store, tweak func(*commands.Policy)) *harness {
	t.Helper()
	p := testPolicy()
	if tweak != nil {
		tweak(&p)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	t.Cleanup(cancel)
	x := &harness{t: t, ctx: ctx, store: store, codec: commands.NewCodec(), clock: newFakeClock(), policy: p, logs: &logBuffer{}}
	x.log = slog.New(slog.NewTextHandler(x.logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	t.Cleanup(func() {
		if t.Failed() {
			if l := x.logs.String(); l != "" {
				t.Logf("warnings logged:\n%s", l)
			}
		}
	})
	x.h = commands.NewHandler(store, x.codec, x.clock.Now, p, x.log)
	return x
}

func nodeSpec(i int) domain.NodeSpec {
	return domain.NodeSpec{
		Name:      fmt.Sprintf("node-%03d", i),
		IPAddress: "127.0.0.1",
		Port:      int32(20000 + i),
		CPUCores:  16,
		RAMTotal:  64 << 30, RAMAvailable: 48 << 30,
		Devices: []domain.Device{
			{Type: domain.DeviceCPU, Name: "cpu", MemoryTotal: 64 << 30, MemoryAvailable: 48 << 30},
			{Type: domain.DeviceCUDA, Name: "gpu", VRAMTotal: 24 << 30, VRAMAvailable: 20 << 30},
		},
	}
}

func jobSpec() domain.JobSpec {
	return domain.JobSpec{
		Type: domain.JobTypeTraining, Priority: domain.PriorityNormal,
		ModelDefinition: "mlp", DatasetURI: "s3://bucket/data", BatchSize: 32, Epochs: 3,
		RequiredDevice: domain.DeviceAny, PaymentAmount: 1.5,
		Hyperparameters: map[string]string{"lr": "0.01"},
	}
}

// registerNode registers a node; online says whether it is then marked online.
func (x *harness) registerNode(i int, online bool) string {
	x.t.Helper()
	n, created, _, err := x.h.RegisterNode(x.ctx, commands.RegisterNode{Owner: "operator", Spec: nodeSpec(i)})
	if err != nil || !created {
		x.t.Fatalf("register node %d: created=%v err=%v", i, created, err)
	}
	if online {
		if _, _, err := x.h.MarkNodeOnline(x.ctx, n.ID()); err != nil {
			x.t.Fatalf("mark node %d online: %v", i, err)
		}
	}
	return n.ID()
}

// registerNodes registers n online nodes concurrently (bolt groups the fsyncs).
func (x *harness) registerNodes(n int) []string {
	x.t.Helper()
	ids := make([]string, n)
	parallel(n, func(i int) { ids[i] = x.registerNode(i, true) })
	return ids
}

func (x *harness) submit(owner string) string {
	x.t.Helper()
	j, _, _, err := x.h.SubmitJob(x.ctx, commands.SubmitJob{Owner: owner, Spec: jobSpec()})
	if err != nil {
		x.t.Fatalf("submit: %v", err)
	}
	return j.ID()
}

func (x *harness) submitMany(n int, owner string) []string {
	x.t.Helper()
	ids := make([]string, n)
	parallel(n, func(i int) { ids[i] = x.submit(owner) })
	return ids
}

// assign assigns a job and fails the test if it does not succeed.
func (x *harness) assign(jobID, nodeID string) {
	x.t.Helper()
	if _, _, err := x.h.AssignJob(x.ctx, jobID, nodeID, 1); err != nil {
		x.t.Fatalf("assign %s to %s: %v", jobID, nodeID, err)
	}
}

// appendRaw appends domain events to a stream as they are, whatever its
// revision: it stands for a crash between two appends, or for commands
// the handler does not expose (ban).
func (x *harness) appendRaw(stream string, events ...domain.Event) {
	x.t.Helper()
	data := make([]eventstore.EventData, len(events))
	for i, e := range events {
		name, payload, err := x.codec.Encode(e)
		if err != nil {
			x.t.Fatalf("encode %T: %v", e, err)
		}
		data[i] = eventstore.EventData{ID: uuid.NewString(), Type: name, Data: payload}
	}
	if _, err := x.store.Append(x.ctx, stream, eventstore.Any(), data...); err != nil {
		x.t.Fatalf("append to %s: %v", stream, err)
	}
}

// events reads and decodes a stream; a missing stream is empty.
func (x *harness) events(stream string) []domain.Event {
	x.t.Helper()
	recs, err := x.store.ReadStream(x.ctx, stream, 0, 0)
	if errors.Is(err, eventstore.ErrStreamNotFound) {
		return nil
	}
	if err != nil {
		x.t.Fatalf("read %s: %v", stream, err)
	}
	out := make([]domain.Event, len(recs))
	for i := range recs {
		v, err := x.codec.Decode(recs[i].Type, recs[i].Data)
		if err != nil {
			x.t.Fatalf("decode %s@%d: %v", stream, recs[i].Revision, err)
		}
		out[i] = v.(domain.Event)
	}
	return out
}

func (x *harness) jobEvents(jobID string) []domain.Event {
	return x.events(domain.JobStream(jobID))
}

func (x *harness) nodeEvents(nodeID string) []domain.Event {
	return x.events(domain.NodeStream(nodeID))
}

func (x *harness) job(jobID string) *domain.Job {
	x.t.Helper()
	j, err := x.h.LoadJob(x.ctx, jobID)
	if err != nil {
		x.t.Fatalf("load job %s: %v", jobID, err)
	}
	return j
}

func (x *harness) node(nodeID string) *domain.Node {
	x.t.Helper()
	n, err := x.h.LoadNode(x.ctx, nodeID)
	if err != nil {
		x.t.Fatalf("load node %s: %v", nodeID, err)
	}
	return n
}

// nodeFold folds a node stream event by event and reports the most active
// jobs it ever held and what it holds at the end.
type nodeFold struct {
	maxActive int
	active    []string
	reserved  map[string]int // NodeJobReserved per job
	released  map[string]int // NodeJobReleased per job
}

func (x *harness) foldNode(nodeID string) nodeFold {
	x.t.Helper()
	f := nodeFold{reserved: map[string]int{}, released: map[string]int{}}
	n := &domain.Node{}
	for _, e := range x.nodeEvents(nodeID) {
		n.Apply(e)
		switch e := e.(type) {
		case domain.NodeJobReserved:
			f.reserved[e.JobID]++
		case domain.NodeJobReleased:
			f.released[e.JobID]++
		}
		f.maxActive = max(f.maxActive, len(n.ActiveJobs()))
	}
	f.active = n.ActiveJobs()
	return f
}

// countOf counts the events of type T.
func countOf[T domain.Event](events []domain.Event) int {
	n := 0
	for _, e := range events {
		if _, ok := e.(T); ok {
			n++
		}
	}
	return n
}

// only returns the events of type T.
func only[T domain.Event](events []domain.Event) []T {
	var out []T
	for _, e := range events {
		if v, ok := e.(T); ok {
			out = append(out, v)
		}
	}
	return out
}

func eventNames(events []domain.Event) []string {
	out := make([]string, len(events))
	for i, e := range events {
		out[i] = e.EventName()
	}
	return out
}

// parallel runs f(0..n-1) on n goroutines released together, and waits.
func parallel(n int, f func(i int)) {
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			f(i)
		}()
	}
	close(start)
	wg.Wait()
}

// view is the in-memory read model fed by a projections.Runner over the
// harness's store.
type view struct {
	*projmem.Model
	x      *harness
	runner *projections.Runner
}

func (x *harness) startView() *view {
	x.t.Helper()
	model := projmem.New(projmem.Config{MaxJobsPerNode: x.policy.MaxJobsPerNode})
	r := projections.NewRunner(x.store, x.codec, model, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go func() { _ = r.Run(ctx) }()
	x.t.Cleanup(func() {
		cancel()
		<-r.Done()
	})
	v := &view{Model: model, x: x, runner: r}
	v.sync()
	return v
}

// sync waits until the model has applied everything in the store now.
func (v *view) sync() {
	v.x.t.Helper()
	recs, err := v.x.store.ReadAll(v.x.ctx, v.runner.Position(), 0)
	if err != nil {
		v.x.t.Fatalf("read all: %v", err)
	}
	if len(recs) == 0 {
		select {
		case <-v.runner.CaughtUp():
			return
		case <-v.x.ctx.Done():
			v.x.t.Fatalf("projections never caught up")
		}
	}
	head := recs[len(recs)-1].Position
	if err := v.runner.WaitFor(v.x.ctx, head); err != nil {
		v.x.t.Fatalf("wait for projections at %d: %v", head, err)
	}
}

var _ commands.View = (*view)(nil)
