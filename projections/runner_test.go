package projections_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	esmemory "github.com/cyxwiz/central-server/eventstore/memory"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
)

// newCodec registers every domain event under its name.
func newCodec() *eventstore.Registry {
	r := eventstore.NewRegistry()
	eventstore.Register[domain.JobSubmitted](r, "JobSubmitted")
	eventstore.Register[domain.JobAssigned](r, "JobAssigned")
	eventstore.Register[domain.JobAccepted](r, "JobAccepted")
	eventstore.Register[domain.JobRejected](r, "JobRejected")
	eventstore.Register[domain.JobStarted](r, "JobStarted")
	eventstore.Register[domain.JobProgressed](r, "JobProgressed")
	eventstore.Register[domain.JobCompleted](r, "JobCompleted")
	eventstore.Register[domain.JobFailed](r, "JobFailed")
	eventstore.Register[domain.JobCancelled](r, "JobCancelled")
	eventstore.Register[domain.JobTimedOut](r, "JobTimedOut")
	eventstore.Register[domain.JobRequeued](r, "JobRequeued")
	eventstore.Register[domain.JobDeleted](r, "JobDeleted")
	eventstore.Register[domain.NodeRegistered](r, "NodeRegistered")
	eventstore.Register[domain.NodeUpdated](r, "NodeUpdated")
	eventstore.Register[domain.NodeWentOnline](r, "NodeWentOnline")
	eventstore.Register[domain.NodeWentOffline](r, "NodeWentOffline")
	eventstore.Register[domain.NodeMetricsSampled](r, "NodeMetricsSampled")
	eventstore.Register[domain.ReputationAdjusted](r, "ReputationAdjusted")
	eventstore.Register[domain.NodeJobReserved](r, "NodeJobReserved")
	eventstore.Register[domain.NodeJobReleased](r, "NodeJobReleased")
	eventstore.Register[domain.NodeBanned](r, "NodeBanned")
	eventstore.Register[domain.NodeUnbanned](r, "NodeUnbanned")
	eventstore.Register[notAnEvent](r, "NotAnEvent")
	return r
}

// notAnEvent decodes fine but is no domain.Event.
type notAnEvent struct{ X int }

type fixture struct {
	t     *testing.T
	store *esmemory.Store
	codec *eventstore.Registry
}

func newFixture(t *testing.T) *fixture {
	s := esmemory.New()
	t.Cleanup(func() { s.Close() })
	return &fixture{t: t, store: s, codec: newCodec()}
}

// append appends events (each to its own stream) and returns the position
// of the last.
func (f *fixture) append(events ...domain.Event) uint64 {
	f.t.Helper()
	var pos uint64
	for _, e := range events {
		stream := domain.NodeStream("x")
		if id, ok := projections.JobIDOf(e); ok {
			stream = domain.JobStream(id)
		} else if id, ok := projections.NodeIDOf(e); ok {
			stream = domain.NodeStream(id)
		}
		name, data, err := f.codec.Encode(e)
		if err != nil {
			f.t.Fatal(err)
		}
		pos = f.appendRaw(stream, name, data)
	}
	return pos
}

func (f *fixture) appendRaw(stream, typ string, data []byte) uint64 {
	f.t.Helper()
	res, err := f.store.Append(context.Background(), stream, eventstore.Any(),
		eventstore.EventData{ID: newID(), Type: typ, Data: data})
	if err != nil {
		f.t.Fatal(err)
	}
	return res.Position
}

// newID returns a random (version 4) UUID.
func newID() string {
	var b [16]byte
	rand.Read(b[:])
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	return fmt.Sprintf("%x-%x-%x-%x-%x", b[0:4], b[4:6], b[6:8], b[8:10], b[10:16])
}

func submitted(id string) domain.Event {
	return domain.JobSubmitted{JobID: id, Owner: "o", At: t0,
		Spec: domain.JobSpec{Type: domain.JobTypeTraining, RequiredDevice: domain.DeviceCUDA}}
}

// run starts r and stops it at cleanup, failing if Run returned an error.
func run(t *testing.T, r *projections.Runner) {
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- r.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-errc:
			if err != nil {
				t.Errorf("Run: %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Error("Run did not return after cancel")
		}
	})
}

func waitCaughtUp(t *testing.T, r *projections.Runner) {
	t.Helper()
	select {
	case <-r.CaughtUp():
	case <-time.After(5 * time.Second):
		t.Fatalf("not caught up within 5s (position %d)", r.Position())
	}
}

func waitFor(t *testing.T, r *projections.Runner, pos uint64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := r.WaitFor(ctx, pos); err != nil {
		t.Fatalf("WaitFor(%d): %v", pos, err)
	}
}

func jobIDs(t *testing.T, m *memory.Model) []string {
	t.Helper()
	jobs, _, _, err := m.ListJobs(context.Background(), projections.JobFilter{PageSize: projections.MaxPageSize})
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, j := range jobs {
		out = append(out, j.ID)
	}
	return out
}

func TestRunnerReplayThenLive(t *testing.T) {
	f := newFixture(t)
	for i := range 1000 {
		f.append(submitted(fmt.Sprintf("old-%04d", i)))
	}
	head := f.append(domain.JobAssigned{JobID: "old-0000", NodeID: "n", Attempt: 1, At: t0})
	m := memory.New(memory.Config{})
	var batches []int
	var mu sync.Mutex
	model := &spyModel{ReadModel: m, onApply: func(b []projections.Envelope, _ uint64) error {
		mu.Lock()
		batches = append(batches, len(b))
		mu.Unlock()
		return nil
	}}
	r := projections.NewRunner(f.store, f.codec, model, nil, projections.WithBatchSize(100))
	run(t, r)
	waitCaughtUp(t, r)
	// Caught up means the replay is applied, not merely read.
	if p := r.Position(); p != head || m.Checkpoint() != head {
		t.Fatalf("caught up at %d (model %d), want %d", p, m.Checkpoint(), head)
	}
	if v, _, _ := m.GetJob(context.Background(), "old-0000"); v.Status != domain.JobStatusAssigned {
		t.Fatalf("old-0000 is %s, want assigned", v.Status)
	}
	mu.Lock()
	for _, n := range batches {
		if n > 100 {
			t.Errorf("a batch of %d events; the limit is 100", n)
		}
	}
	if len(batches) < 10 {
		t.Errorf("%d batches for 1001 events of at most 100", len(batches))
	}
	mu.Unlock()

	// Live: read your writes.
	for i := range 20 {
		pos := f.append(submitted(fmt.Sprintf("new-%02d", i)))
		waitFor(t, r, pos)
		if _, found, _ := m.GetJob(context.Background(), fmt.Sprintf("new-%02d", i)); !found {
			t.Fatalf("new-%02d not visible after WaitFor(%d)", i, pos)
		}
	}
	if got := len(jobIDs(t, m)); got != 1000 {
		t.Fatalf("listed %d jobs, want the page of 1000", got)
	}
	st := r.Stats()
	if !st.CaughtUp || st.Applied != 1021 || st.Skipped != 0 || st.Position != r.Position() {
		t.Fatalf("stats %+v", st)
	}
}

func TestRunnerSkipsUndecodableEvents(t *testing.T) {
	tests := []struct {
		name string
		typ  string
		data string
	}{
		{"unknown type", "SomethingNew.v9", `{"a":1}`},
		{"broken payload", "JobSubmitted", `{"job_id": 17`},
		{"wrong field type", "JobAssigned", `{"job_id": 17}`},
		{"not a domain event", "NotAnEvent", `{"X":1}`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t)
			f.append(submitted("before"))
			bad := f.appendRaw("job-bad", tc.typ, []byte(tc.data))
			head := f.append(submitted("after"))
			var logs strings.Builder
			var mu sync.Mutex
			log := slog.New(slog.NewTextHandler(writerFunc(func(p []byte) (int, error) {
				mu.Lock()
				defer mu.Unlock()
				return logs.Write(p)
			}), nil))
			m := memory.New(memory.Config{})
			r := projections.NewRunner(f.store, f.codec, m, log)
			run(t, r)
			waitCaughtUp(t, r)
			if r.Position() != head || m.Checkpoint() != head {
				t.Fatalf("position %d, model %d; want %d", r.Position(), m.Checkpoint(), head)
			}
			if got := jobIDs(t, m); len(got) != 2 || got[0] != "after" || got[1] != "before" {
				t.Fatalf("jobs %v", got)
			}
			if st := r.Stats(); st.Skipped != 1 || st.Applied != 2 {
				t.Fatalf("stats %+v", st)
			}
			// A second one of the same type after catching up is skipped too.
			f.appendRaw("job-bad2", tc.typ, []byte(tc.data))
			waitFor(t, r, f.append(submitted("later")))
			if st := r.Stats(); st.Skipped != 2 {
				t.Fatalf("stats %+v", st)
			}
			mu.Lock()
			defer mu.Unlock()
			if c := strings.Count(logs.String(), "level=WARN"); c != 1 || !strings.Contains(logs.String(), fmt.Sprintf("position=%d", bad)) {
				t.Fatalf("want one warning naming position %d (the second at debug), got:\n%s", bad, logs.String())
			}
		})
	}
}

type writerFunc func([]byte) (int, error)

func (w writerFunc) Write(p []byte) (int, error) { return w(p) }

func TestRunnerWaitFor(t *testing.T) {
	f := newFixture(t)
	pos := f.append(submitted("a"))
	m := memory.New(memory.Config{})
	r := projections.NewRunner(f.store, f.codec, m, nil)

	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if err := r.WaitFor(ctx, pos); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("WaitFor before Run = %v, want the deadline", err)
	}
	runCtx, stop := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Run(runCtx) }()
	waitFor(t, r, pos)
	waitFor(t, r, 0) // nothing to wait for
	// Many waiters on a future position are all released by one append.
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waitFor(t, r, pos+1)
		}()
	}
	f.append(submitted("b"))
	wg.Wait()

	stop()
	if err := <-done; err != nil {
		t.Fatalf("Run = %v, want nil after cancel", err)
	}
	<-r.Done()
	if err := r.WaitFor(context.Background(), pos+100); !errors.Is(err, projections.ErrRunnerStopped) {
		t.Fatalf("WaitFor after Run returned = %v, want ErrRunnerStopped", err)
	}
	if err := r.WaitFor(context.Background(), pos); err != nil {
		t.Fatalf("WaitFor of an applied position after stop = %v", err)
	}
	if err := r.Run(context.Background()); err == nil {
		t.Fatal("a second Run succeeded")
	}
}

func TestRunnerResumesFromCheckpoint(t *testing.T) {
	f := newFixture(t)
	for i := range 10 {
		f.append(submitted(fmt.Sprintf("j%d", i)))
	}
	// A model that already has the first 6 events (as a persistent model would).
	m := memory.New(memory.Config{})
	first := projections.NewRunner(f.store, f.codec, m, nil)
	ctx, cancel := context.WithCancel(context.Background())
	go first.Run(ctx)
	waitFor(t, first, 6)
	cancel()
	<-first.Done()
	checkpoint := m.Checkpoint()

	spy := &spyStore{Store: f.store}
	r := projections.NewRunner(spy, f.codec, m, nil)
	if r.Position() != checkpoint {
		t.Fatalf("a new runner starts at %d, want the model's checkpoint %d", r.Position(), checkpoint)
	}
	run(t, r)
	waitCaughtUp(t, r)
	if after := spy.afters(); len(after) != 1 || after[0] != checkpoint {
		t.Fatalf("subscribed after %v, want [%d]", after, checkpoint)
	}
	if got := jobIDs(t, m); len(got) != 10 {
		t.Fatalf("jobs %v", got)
	}
}

func TestRunnerRestartsAfterFailures(t *testing.T) {
	f := newFixture(t)
	var head uint64
	for i := range 50 {
		head = f.append(submitted(fmt.Sprintf("j%02d", i)),
			domain.JobAssigned{JobID: fmt.Sprintf("j%02d", i), NodeID: "n", Attempt: 1, At: t0})
	}
	spy := &spyStore{Store: f.store, failSubscribes: 2, cutAfter: 7}
	var failApply atomic.Int32
	failApply.Store(2)
	m := memory.New(memory.Config{})
	model := &spyModel{ReadModel: m, onApply: func([]projections.Envelope, uint64) error {
		if failApply.Add(-1) >= 0 {
			return errors.New("database unavailable")
		}
		return nil
	}}
	r := projections.NewRunner(spy, f.codec, model, nil, projections.WithBackoff(time.Millisecond, 5*time.Millisecond),
		projections.WithBatchSize(5))
	run(t, r)
	waitFor(t, r, head)
	for _, id := range jobIDs(t, m) {
		v, _, _ := m.GetJob(context.Background(), id)
		if v.Status != domain.JobStatusAssigned || v.Attempts != 1 {
			t.Fatalf("%s: %s, attempts %d", id, v.Status, v.Attempts)
		}
	}
	if n := len(m.Assignments()); n != 50 {
		t.Fatalf("%d assignments, want 50", n)
	}
	st := r.Stats()
	if st.Restarts < 4 || st.Applied != 100 {
		t.Fatalf("stats %+v: want ≥ 4 restarts (2 subscribes, 2 applies, cuts) and 100 applied", st)
	}
	// Every resubscription started where the model was.
	afters := spy.afters()
	for i := 1; i < len(afters); i++ {
		if afters[i] < afters[i-1] {
			t.Fatalf("resubscribed after %v: went backwards", afters)
		}
	}
}

func TestRunnerStopsWhenTheStoreCloses(t *testing.T) {
	f := newFixture(t)
	f.append(submitted("a"))
	r := projections.NewRunner(f.store, f.codec, memory.New(memory.Config{}), nil,
		projections.WithBackoff(time.Millisecond, time.Millisecond))
	errc := make(chan error, 1)
	go func() { errc <- r.Run(context.Background()) }()
	waitCaughtUp(t, r)
	f.store.Close()
	select {
	case err := <-errc:
		if !errors.Is(err, eventstore.ErrClosed) {
			t.Fatalf("Run = %v, want ErrClosed", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return after the store closed")
	}
}

func TestRunnerLag(t *testing.T) {
	f := newFixture(t)
	var now atomic.Int64
	now.Store(time.Now().Add(time.Hour).UnixNano())
	r := projections.NewRunner(f.store, f.codec, memory.New(memory.Config{}), nil,
		projections.WithClock(func() time.Time { return time.Unix(0, now.Load()) }))
	f.append(submitted("old"))
	run(t, r)
	waitCaughtUp(t, r)
	st := r.Stats()
	if st.LastLag < 59*time.Minute || st.MaxLag != 0 {
		t.Fatalf("replay lag %v, max %v; want about an hour and no max (replay)", st.LastLag, st.MaxLag)
	}
	waitFor(t, r, f.append(submitted("live")))
	if st := r.Stats(); st.MaxLag < 59*time.Minute || st.MaxLag != st.LastLag {
		t.Fatalf("live lag %v, max %v", st.LastLag, st.MaxLag)
	}
}

// spyModel calls onApply before passing a batch on; an error from onApply
// fails the batch.
type spyModel struct {
	projections.ReadModel
	onApply func([]projections.Envelope, uint64) error
}

func (s *spyModel) Apply(ctx context.Context, b []projections.Envelope, checkpoint uint64) error {
	if err := s.onApply(b, checkpoint); err != nil {
		return err
	}
	return s.ReadModel.Apply(ctx, b, checkpoint)
}

// spyStore records where subscriptions start, fails the first
// failSubscribes of them, and cuts each subscription off with an error
// after cutAfter events (0: never).
type spyStore struct {
	eventstore.Store
	failSubscribes int
	cutAfter       int

	mu    sync.Mutex
	after []uint64
}

func (s *spyStore) afters() []uint64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]uint64(nil), s.after...)
}

func (s *spyStore) SubscribeAll(ctx context.Context, after uint64) (eventstore.Subscription, error) {
	s.mu.Lock()
	s.after = append(s.after, after)
	fail := s.failSubscribes > 0
	s.failSubscribes--
	s.mu.Unlock()
	if fail {
		return nil, errors.New("connection refused")
	}
	inner, err := s.Store.SubscribeAll(ctx, after)
	if err != nil || s.cutAfter == 0 {
		return inner, err
	}
	return newCutSub(inner, s.cutAfter), nil
}

// cutSub forwards n events, then ends with an error.
type cutSub struct {
	inner eventstore.Subscription
	c     chan eventstore.Message
	stop  chan struct{}
	once  sync.Once
	done  chan struct{}
	err   atomic.Value
}

func newCutSub(inner eventstore.Subscription, n int) *cutSub {
	s := &cutSub{inner: inner, c: make(chan eventstore.Message), stop: make(chan struct{}), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		defer close(s.c)
		defer inner.Close()
		for m := range inner.C() {
			if m.Event != nil {
				if n == 0 {
					s.err.Store(errors.New("connection reset"))
					return
				}
				n--
			}
			select {
			case s.c <- m:
			case <-s.stop:
				return
			}
		}
	}()
	return s
}

func (s *cutSub) C() <-chan eventstore.Message { return s.c }

func (s *cutSub) Err() error {
	if err, ok := s.err.Load().(error); ok {
		return err
	}
	return s.inner.Err()
}

func (s *cutSub) Close() error {
	s.once.Do(func() { close(s.stop) })
	<-s.done
	return nil
}

func TestRunnerDecodesInParallel(t *testing.T) {
	for _, workers := range []int{1, 3, 8} {
		t.Run(fmt.Sprintf("workers=%d", workers), func(t *testing.T) {
			f := newFixture(t)
			var head uint64
			bad := 0
			for i := range 3000 {
				if i%97 == 0 {
					f.appendRaw("job-bad", "Unknown", []byte(`{}`))
					bad++
				}
				id := fmt.Sprintf("j%04d", i)
				head = f.append(submitted(id), domain.JobProgressed{JobID: id, NodeID: "n", Progress: float64(i%100) / 100, Epoch: int32(i)})
			}
			m := memory.New(memory.Config{})
			r := projections.NewRunner(f.store, f.codec, m, nil, projections.WithBatchSize(1000), projections.WithDecodeWorkers(workers))
			run(t, r)
			waitCaughtUp(t, r)
			if r.Position() != head {
				t.Fatalf("position %d, want %d", r.Position(), head)
			}
			if st := r.Stats(); st.Applied != 6000 || st.Skipped != uint64(bad) {
				t.Fatalf("stats %+v, want 6000 applied, %d skipped", st, bad)
			}
			// Each job's progress came after its submission: order held.
			for i := range 3000 {
				v, found, _ := m.GetJob(context.Background(), fmt.Sprintf("j%04d", i))
				if !found || v.Epoch != int32(i) || v.Revision != 1 {
					t.Fatalf("j%04d: found %v, epoch %d, revision %d", i, found, v.Epoch, v.Revision)
				}
			}
		})
	}
}
