package commands_test

// Process managers (timeouts, node monitor, dispatcher) against a real
// store and the in-memory read model fed by a projections.Runner, with a
// fake clock. The dispatcher's NodeClient and P2PTokens are fakes here:
// the real gRPC client is tested end to end elsewhere.

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
)

// ---------------------------------------------------------------- timeouts

func TestTimeoutsFireDeadlines(t *testing.T) {
	const accept, run = 30 * time.Second, 10 * time.Minute
	x := newHarness(t, memoryKind, nil)
	v := x.startView()
	node := x.registerNode(0, true)
	t0 := x.clock.Now()

	waiting := x.submit("alice") // assigned, never accepted
	x.assign(waiting, node)
	accepted := x.submit("alice") // accepted at t0, never started
	x.assign(accepted, node)
	if _, _, err := x.h.AcceptJob(x.ctx, accepted, node); err != nil {
		t.Fatal(err)
	}
	started := x.submit("alice") // started 20 seconds later
	x.assign(started, node)
	x.clock.Advance(20 * time.Second)
	if _, _, err := x.h.ReportProgress(x.ctx, started, node, domain.Progress{Fraction: 0.1}); err != nil {
		t.Fatal(err)
	}
	v.sync()

	to := commands.NewTimeouts(x.h, v, commands.TimeoutConfig{Accept: accept, Run: run}, x.clock.Now, x.log)
	timedOut := func(job string) []domain.JobTimedOut { return only[domain.JobTimedOut](x.jobEvents(job)) }
	checkAt := func(at time.Duration) {
		t.Helper()
		x.clock.Advance(t0.Add(at).Sub(x.clock.Now()))
		to.Check(x.ctx)
		v.sync()
	}

	for _, step := range []struct {
		at   time.Duration
		want map[string]string // job → phase of its JobTimedOut ("" = none yet)
	}{
		{accept, map[string]string{waiting: "", accepted: "", started: ""}}, // not before the deadline
		{accept + time.Second, map[string]string{waiting: domain.PhaseAccept, accepted: "", started: ""}},
		{run, map[string]string{accepted: "", started: ""}},
		{run + time.Second, map[string]string{accepted: domain.PhaseRun, started: ""}}, // from acceptance
		{20*time.Second + run, map[string]string{started: ""}},
		{20*time.Second + run + time.Second, map[string]string{started: domain.PhaseRun}}, // from its start
	} {
		checkAt(step.at)
		for job, phase := range step.want {
			got := timedOut(job)
			switch {
			case phase == "" && len(got) != 0:
				t.Errorf("at t0+%s: job %s timed out too early: %+v", step.at, job, got)
			case phase != "" && (len(got) != 1 || got[0].Phase != phase):
				t.Errorf("at t0+%s: job %s: JobTimedOut %+v, want one of phase %q", step.at, job, got, phase)
			}
		}
	}
	for _, job := range []string{waiting, accepted, started} {
		if j := x.job(job); j.Status() != domain.JobStatusPending || j.Requeues() != 1 {
			t.Errorf("job %s: %s with %d requeues, want pending after one requeue", job, j.Status(), j.Requeues())
		}
	}
	n := x.node(node)
	if len(n.ActiveJobs()) != 0 {
		t.Errorf("node still holds %v", n.ActiveJobs())
	}
	if want := domain.InitialReputation - 3*x.policy.PenaltyTimeout; math.Abs(n.Reputation()-want) > 1e-9 {
		t.Errorf("reputation %v, want %v", n.Reputation(), want)
	}
	// Checking again fires nothing twice.
	to.Check(x.ctx)
	for _, job := range []string{waiting, accepted, started} {
		if n := len(timedOut(job)); n != 1 {
			t.Errorf("job %s timed out %d times", job, n)
		}
	}
}

func TestTimeoutsReleaseOrphanedReservationAfterGrace(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	v := x.startView()
	node := x.registerNode(0, true)
	orphan := x.submit("alice")
	kept := x.submit("alice")
	x.assign(kept, node)
	// A crash between NodeJobReserved and JobAssigned left this one.
	x.appendRaw(domain.NodeStream(node), domain.NodeJobReserved{NodeID: node, JobID: orphan, At: x.clock.Now()})
	v.sync()
	t0 := x.clock.Now()

	to := commands.NewTimeouts(x.h, v, commands.TimeoutConfig{}, x.clock.Now, x.log)
	grace := x.policy.ReservationGrace
	for _, step := range []struct {
		at        time.Duration
		holdsOrph bool
	}{
		{0, true},
		{grace - time.Millisecond, true},
		{grace + time.Millisecond, false},
		{10 * grace, false},
	} {
		x.clock.Advance(t0.Add(step.at).Sub(x.clock.Now()))
		to.Check(x.ctx)
		v.sync()
		n := x.node(node)
		if n.Holds(orphan) != step.holdsOrph {
			t.Errorf("at t0+%s: node holds the orphan = %v, want %v", step.at, n.Holds(orphan), step.holdsOrph)
		}
		if !n.Holds(kept) {
			t.Errorf("at t0+%s: the slot of the job on the node was released", step.at)
		}
	}
	if n := countOf[domain.NodeJobReleased](x.nodeEvents(node)); n != 1 {
		t.Errorf("%d NodeJobReleased, want 1", n)
	}
	if j := x.job(orphan); j.Status() != domain.JobStatusPending {
		t.Errorf("the orphan's job is %s, want still pending", j.Status())
	}
}

// ----------------------------------------------------------------- monitor

func newMonitor(x *harness, v commands.View, leases commands.Leases, onOnline func()) *commands.Monitor {
	return commands.NewMonitor(x.h, leases, v, commands.MonitorConfig{
		HeartbeatTimeout: 10 * time.Second, SampleInterval: time.Minute,
	}, x.clock.Now, x.log, onOnline)
}

func TestMonitorHeartbeats(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	v := x.startView()
	node := x.registerNode(0, false)
	var onlines atomic.Int32
	m := newMonitor(x, v, commands.NewMemoryLeases(), func() { onlines.Add(1) })
	status := nodeSpec(0)
	t0 := x.clock.Now()

	// 90 heartbeats, one a second, some of them concurrent.
	for i := range 90 {
		x.clock.Advance(t0.Add(time.Duration(i) * time.Second).Sub(x.clock.Now()))
		parallel(2, func(int) {
			if err := m.Heartbeat(x.ctx, node, &status, 1); err != nil {
				t.Error(err)
			}
		})
	}
	evs := x.nodeEvents(node)
	if n := countOf[domain.NodeWentOnline](evs); n != 1 {
		t.Errorf("%d NodeWentOnline for 180 heartbeats, want 1", n)
	}
	if onlines.Load() != 1 {
		t.Errorf("onOnline called %d times, want 1", onlines.Load())
	}
	samples := only[domain.NodeMetricsSampled](evs)
	if len(samples) != 2 { // at t0 and t0+60s
		t.Fatalf("%d metric samples over 90s at one a minute, want 2", len(samples))
	}
	if gap := samples[1].At.Sub(samples[0].At); gap < time.Minute {
		t.Errorf("samples %s apart, want at least a minute", gap)
	}
	s := samples[0].Sample
	if s.ActiveJobs != 1 || s.RAMAvailable != status.RAMAvailable || s.MemoryUsage <= 0 || s.GPUUsage <= 0 {
		t.Errorf("sample %+v does not reflect the heartbeat", s)
	}
	if last, ok := m.LastHeartbeat(node); !ok || !last.Equal(x.clock.Now()) {
		t.Errorf("LastHeartbeat = %v %v, want %v", last, ok, x.clock.Now())
	}
	// A heartbeat without status samples nothing.
	x.clock.Advance(time.Hour)
	m2 := newMonitor(x, v, commands.NewMemoryLeases(), nil)
	if err := m2.Heartbeat(x.ctx, node, nil, 0); err != nil {
		t.Fatal(err)
	}
	if n := countOf[domain.NodeMetricsSampled](x.nodeEvents(node)); n != 2 {
		t.Errorf("a heartbeat without status recorded a sample")
	}
	// An unknown node is refused and gets no lease.
	ghost := "9b0f8c56-7a4e-4d3b-8c2a-1e0f9d8c7b6a"
	if err := m.Heartbeat(x.ctx, ghost, &status, 0); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("heartbeat of an unknown node: got %v, want ErrNotFound", err)
	}
	if _, ok := m.LastHeartbeat(ghost); ok {
		t.Error("an unknown node kept a lease")
	}
}

func TestMonitorSweepMarksOfflineAndRequeues(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	v := x.startView()
	node := x.registerNode(0, false)
	quiet := x.registerNode(1, false)
	m := newMonitor(x, v, commands.NewMemoryLeases(), nil)
	for _, id := range []string{node, quiet} {
		if err := m.Heartbeat(x.ctx, id, nil, 0); err != nil {
			t.Fatal(err)
		}
	}
	job := x.submit("alice")
	x.assign(job, node)

	// node keeps beating, quiet does not; neither is swept before its timeout.
	for range 10 {
		x.clock.Advance(time.Second)
		if err := m.Heartbeat(x.ctx, node, nil, 1); err != nil {
			t.Fatal(err)
		}
		m.Sweep(x.ctx)
	}
	if !x.node(quiet).Online() {
		t.Fatal("swept at exactly the timeout; a lease lasts the whole timeout")
	}
	x.clock.Advance(time.Second)
	m.Sweep(x.ctx)
	if x.node(quiet).Online() {
		t.Error("a node silent for longer than the timeout is still online")
	}
	if !x.node(node).Online() {
		t.Error("a beating node was swept")
	}

	// Now node falls silent with a job on it.
	x.clock.Advance(11 * time.Second)
	m.Sweep(x.ctx)
	n := x.node(node)
	if n.Online() || len(n.ActiveJobs()) != 0 {
		t.Errorf("after the sweep: online %v, holds %v", n.Online(), n.ActiveJobs())
	}
	if j := x.job(job); j.Status() != domain.JobStatusPending {
		t.Errorf("its job is %s, want requeued", j.Status())
	}
	if want := domain.InitialReputation - x.policy.PenaltyOffline; math.Abs(n.Reputation()-want) > 1e-9 {
		t.Errorf("reputation %v, want %v", n.Reputation(), want)
	}
	if math.Abs(x.node(quiet).Reputation()-domain.InitialReputation) > 1e-9 {
		t.Error("an idle node lost reputation going offline")
	}
	// Sweeping again records nothing; a new heartbeat brings it back.
	before := len(x.nodeEvents(node))
	m.Sweep(x.ctx)
	if len(x.nodeEvents(node)) != before {
		t.Error("a second sweep recorded events")
	}
	if err := m.Heartbeat(x.ctx, node, nil, 0); err != nil {
		t.Fatal(err)
	}
	if evs := x.nodeEvents(node); countOf[domain.NodeWentOnline](evs) != 2 || !x.node(node).Online() {
		t.Errorf("back online: %v", eventNames(evs))
	}
}

func TestMonitorAdoptAfterRestart(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	v := x.startView()
	online := x.registerNode(0, true) // online in the log, before the "restart"
	offline := x.registerNode(1, false)
	v.sync()

	m := newMonitor(x, v, commands.NewMemoryLeases(), nil) // fresh process: no leases
	m.Adopt()
	if _, ok := m.LastHeartbeat(online); !ok {
		t.Fatal("an online node got no lease")
	}
	if _, ok := m.LastHeartbeat(offline); ok {
		t.Error("an offline node got a lease")
	}
	x.clock.Advance(10 * time.Second)
	m.Sweep(x.ctx)
	if !x.node(online).Online() {
		t.Fatal("an adopted node was swept within its grace")
	}
	// A node that checks in keeps its lease; adopting again does not reset it.
	if err := m.Heartbeat(x.ctx, online, nil, 0); err != nil {
		t.Fatal(err)
	}
	if n := countOf[domain.NodeWentOnline](x.nodeEvents(online)); n != 1 {
		t.Errorf("the adopted node was recorded online again (%d NodeWentOnline)", n)
	}
	seen, _ := m.LastHeartbeat(online)
	x.clock.Advance(5 * time.Second)
	m.Adopt()
	if again, _ := m.LastHeartbeat(online); !again.Equal(seen) {
		t.Error("Adopt renewed a live lease")
	}
	x.clock.Advance(6 * time.Second)
	m.Sweep(x.ctx)
	if x.node(online).Online() {
		t.Error("an adopted node that went silent was never swept")
	}
}

// -------------------------------------------------------------- dispatcher

// fakeNodeClient answers AssignJob from a script, one entry per call; the
// last entry repeats.
type fakeNodeClient struct {
	mu     sync.Mutex
	script []callResult
	calls  []fakeCall
}

type callResult struct {
	accepted bool
	reason   string
	err      error
}

type fakeCall struct {
	addr  string
	order commands.Order
}

func (c *fakeNodeClient) AssignJob(ctx context.Context, address string, o commands.Order) (bool, string, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if _, ok := ctx.Deadline(); !ok {
		return false, "", errors.New("fake: the call has no deadline")
	}
	c.calls = append(c.calls, fakeCall{address, o})
	r := c.script[min(len(c.calls), len(c.script))-1]
	return r.accepted, r.reason, r.err
}

func (c *fakeNodeClient) Calls() []fakeCall {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]fakeCall(nil), c.calls...)
}

// fakeTokens mints deterministic tokens from the assignment.
type fakeTokens struct{}

func (fakeTokens) P2PToken(jobID, nodeID, owner string, assignedAt time.Time) (string, time.Time, error) {
	return fmt.Sprintf("p2p|%s|%s|%s|%d", jobID, nodeID, owner, assignedAt.UnixNano()), assignedAt.Add(time.Hour), nil
}

func TestDispatcher(t *testing.T) {
	unreachable := errors.New("connection refused")
	const attempts, offset = 3, 1
	for _, tc := range []struct {
		name       string
		script     []callResult
		wantCalls  int
		wantEvents []string // appended to the job stream by the dispatch
		wantReason string   // of JobRejected
		wantRep    float64  // reputation lost
	}{
		{"accepted", []callResult{{accepted: true}}, 1, []string{"JobAccepted"}, "", 0},
		{"refused", []callResult{{reason: "out of memory"}}, 1, []string{"JobRejected", "JobRequeued"}, "out of memory", 0.02},
		{"refused without reason", []callResult{{}}, 1, []string{"JobRejected", "JobRequeued"}, "declined", 0.02},
		{"unreachable then accepted", []callResult{{err: unreachable}, {accepted: true}}, 2, []string{"JobAccepted"}, "", 0},
		{"unreachable", []callResult{{err: unreachable}}, attempts, []string{"JobRejected", "JobRequeued"}, "unreachable", 0.02},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newHarness(t, memoryKind, nil)
			node := x.registerNode(7, true)
			job := x.submit("alice")
			x.assign(job, node)
			before := len(x.jobEvents(job))
			assignedAt := x.job(job).AssignedAt()

			client := &fakeNodeClient{script: tc.script}
			d := commands.NewDispatcher(x.h, client, fakeTokens{}, commands.DispatchConfig{
				PortOffset: offset, Attempts: attempts, Backoff: time.Millisecond, CallTimeout: time.Second,
			}, x.log)
			if err := d.DispatchNow(x.ctx, job, node); err != nil {
				t.Fatal(err)
			}

			calls := client.Calls()
			if len(calls) != tc.wantCalls {
				t.Fatalf("%d calls to the node, want %d", len(calls), tc.wantCalls)
			}
			j := x.job(job)
			wantToken, wantExp, _ := fakeTokens{}.P2PToken(job, node, "alice", assignedAt)
			for _, c := range calls {
				if want := commands.ControlAddress(nodeSpec(7), offset); c.addr != want || c.addr != "127.0.0.1:20008" {
					t.Errorf("called %s, want %s", c.addr, want)
				}
				o := c.order
				if o.JobID != job || o.NodeID != node || !sameSpec(o.Spec, jobSpec()) {
					t.Errorf("order %+v", o)
				}
				if o.Token != wantToken || !o.TokenExpires.Equal(wantExp) {
					t.Errorf("token %q (expires %v), want the minted %q (%v)", o.Token, o.TokenExpires, wantToken, wantExp)
				}
			}
			evs := x.jobEvents(job)
			if got := eventNames(evs[before:]); !slices.Equal(got, tc.wantEvents) {
				t.Errorf("dispatch recorded %v, want %v", got, tc.wantEvents)
			}
			if tc.wantReason != "" {
				r := only[domain.JobRejected](evs)
				if len(r) != 1 || !strings.Contains(r[0].Reason, tc.wantReason) {
					t.Errorf("JobRejected %+v, want a reason with %q", r, tc.wantReason)
				}
				if j.Status() != domain.JobStatusPending || x.node(node).Holds(job) {
					t.Errorf("after rejection: job %s, node holds it %v", j.Status(), x.node(node).Holds(job))
				}
			}
			if rep := x.node(node).Reputation(); math.Abs(rep-(domain.InitialReputation-tc.wantRep)) > 1e-9 {
				t.Errorf("reputation %v, want %v", rep, domain.InitialReputation-tc.wantRep)
			}

			// Dispatching again is a no-op: the assignment moved on.
			n := len(x.jobEvents(job))
			if err := d.DispatchNow(x.ctx, job, node); err != nil {
				t.Fatal(err)
			}
			if len(client.Calls()) != tc.wantCalls || len(x.jobEvents(job)) != n {
				t.Error("a second dispatch of a settled assignment called the node or recorded events")
			}
		})
	}
}

// The background Dispatch, as the scheduler uses it, and the P2P token is
// stable across dispatches of one assignment.
func TestDispatcherBackgroundAndStableToken(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	v := x.startView()
	x.registerNodes(3)
	jobs := x.submitMany(6, "alice")
	v.sync()
	client := &fakeNodeClient{script: []callResult{{accepted: true}}}
	d := commands.NewDispatcher(x.h, client, fakeTokens{}, commands.DispatchConfig{Attempts: 1, Backoff: time.Millisecond}, x.log)
	s := commands.NewScheduler(x.h, v, d, commands.SchedulerConfig{Seed: 7}, x.log)
	if n := s.Pass(x.ctx); n != len(jobs) {
		t.Fatalf("pass assigned %d, want %d", n, len(jobs))
	}
	d.Wait()
	if len(client.Calls()) != len(jobs) {
		t.Fatalf("%d pushes, want %d", len(client.Calls()), len(jobs))
	}
	for _, c := range client.Calls() {
		j := x.job(c.order.JobID)
		if !j.Accepted() || j.Node() != c.order.NodeID {
			t.Errorf("job %s: accepted %v on %s, pushed to %s", j.ID(), j.Accepted(), j.Node(), c.order.NodeID)
		}
		again, _, _ := fakeTokens{}.P2PToken(j.ID(), j.Node(), j.Owner(), j.AssignedAt())
		if again != c.order.Token {
			t.Errorf("token of job %s not reproducible from the log: %q vs %q", j.ID(), again, c.order.Token)
		}
	}
}

// sharedLeases is MemoryLeases with the optional hooks a shared store
// offers the monitor (Claims, OutageAware, SampleGate), recorded.
type sharedLeases struct {
	*commands.MemoryLeases
	mu      sync.Mutex
	settled []string
	resumed bool
	sample  bool
}

func (s *sharedLeases) Settled(id string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.settled = append(s.settled, id)
}

func (s *sharedLeases) Resumed() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	r := s.resumed
	s.resumed = false
	return r
}

func (s *sharedLeases) SampleDue(string, time.Time, time.Duration) bool { return s.sample }

// TestMonitorSharedLeaseHooks: with a shared lease store the monitor
// settles each claim it recorded offline, re-adopts the online nodes
// (instead of sweeping) once the store resumes after an outage, and
// samples only when the store books the sample cluster-wide.
func TestMonitorSharedLeaseHooks(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	v := x.startView()
	node := x.registerNode(0, false)
	leases := &sharedLeases{MemoryLeases: commands.NewMemoryLeases()}
	m := newMonitor(x, v, leases, nil)
	status := nodeSpec(0)
	if err := m.Heartbeat(x.ctx, node, &status, 0); err != nil {
		t.Fatal(err)
	}
	if n := countOf[domain.NodeMetricsSampled](x.nodeEvents(node)); n != 0 {
		t.Errorf("%d samples recorded though another replica booked the interval", n)
	}
	leases.sample = true
	x.clock.Advance(2 * time.Minute)
	if err := m.Heartbeat(x.ctx, node, &status, 0); err != nil {
		t.Fatal(err)
	}
	if n := countOf[domain.NodeMetricsSampled](x.nodeEvents(node)); n != 1 {
		t.Errorf("%d samples once the store booked one, want 1", n)
	}
	v.sync()

	// The store lost the lease (restarted empty) and says so: the sweep
	// re-adopts the node for a full timeout instead of expiring anything.
	leases.Drop(node)
	leases.mu.Lock()
	leases.resumed = true
	leases.mu.Unlock()
	x.clock.Advance(5 * time.Second)
	m.Sweep(x.ctx)
	if _, ok := leases.LastSeen(node); !ok {
		t.Fatal("the online node was not re-adopted after the store resumed")
	}
	x.clock.Advance(9 * time.Second)
	m.Sweep(x.ctx)
	if !x.node(node).Online() {
		t.Fatal("swept within a timeout of the re-adoption")
	}
	x.clock.Advance(2 * time.Second)
	m.Sweep(x.ctx)
	if x.node(node).Online() {
		t.Fatal("still online a timeout after the re-adoption")
	}
	if !slices.Equal(leases.settled, []string{node}) {
		t.Errorf("claims settled %v, want [%s]", leases.settled, node)
	}
}

// A pass reads the queue a page at a time (commands.QueuePages) and goes
// on past pages of jobs no node can run to the ones it can place.
func TestSchedulerPagesPastUnplaceableJobs(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	v := x.startView()
	x.registerNodes(1)
	metal := jobSpec()
	metal.Priority, metal.RequiredDevice = domain.PriorityHigh, domain.DeviceMetal // no node has one
	var wg sync.WaitGroup
	for range 600 { // more than two pages, ahead of the placeable job in the queue
		wg.Go(func() {
			if _, _, _, err := x.h.SubmitJob(x.ctx, commands.SubmitJob{Owner: "alice", Spec: metal}); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	job := x.submit("bob")
	v.sync()
	if _, ok := any(v).(commands.QueuePages); !ok {
		t.Fatal("the in-memory view does not page its queue")
	}
	s := commands.NewScheduler(x.h, v, nil, commands.SchedulerConfig{Seed: 1}, x.log)
	if n := s.Pass(x.ctx); n != 1 || x.job(job).Status() != domain.JobStatusAssigned {
		t.Fatalf("pass assigned %d; job %s is %v, want assigned", n, job, x.job(job).Status())
	}
}
