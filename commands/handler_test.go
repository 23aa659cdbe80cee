package commands_test

// Handler behaviour, one command at a time, over the memory store; the
// log is read back after each step.

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
)

func TestHandlerJobLifecycle(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	node := x.registerNode(0, true)
	other := x.registerNode(1, true)
	job := x.submit("alice")

	j, _, err := x.h.AssignJob(x.ctx, job, node, 42)
	if err != nil {
		t.Fatal(err)
	}
	if j.Status() != domain.JobStatusAssigned || j.Node() != node || j.Attempts() != 1 {
		t.Fatalf("after assign: %s on %q, attempt %d", j.Status(), j.Node(), j.Attempts())
	}
	if !x.node(node).Holds(job) {
		t.Fatal("the node holds no slot for its job")
	}
	if _, _, err := x.h.AssignJob(x.ctx, job, other, 1); !errors.Is(err, domain.ErrFailedPrecondition) {
		t.Errorf("assigning an assigned job: got %v, want ErrFailedPrecondition", err)
	}

	if _, _, err := x.h.AcceptJob(x.ctx, job, other); !errors.Is(err, domain.ErrPermissionDenied) {
		t.Errorf("accept by another node: got %v, want ErrPermissionDenied", err)
	}
	if _, _, err := x.h.AcceptJob(x.ctx, job, node); err != nil {
		t.Fatal(err)
	}
	if _, pos, err := x.h.AcceptJob(x.ctx, job, node); err != nil || pos != 0 {
		t.Errorf("accepting twice: pos=%d err=%v, want a no-op", pos, err)
	}

	p := domain.Progress{Fraction: 0.5, Epoch: 2, Metrics: map[string]float64{"loss": 0.3}, Log: "epoch 2"}
	if _, pos, err := x.h.ReportProgress(x.ctx, job, node, p); err != nil || pos == 0 {
		t.Fatalf("first progress: pos=%d err=%v", pos, err)
	}
	before := len(x.jobEvents(job))
	if _, pos, err := x.h.ReportProgress(x.ctx, job, node, p); err != nil || pos != 0 {
		t.Errorf("duplicate progress: pos=%d err=%v, want a no-op", pos, err)
	}
	if after := len(x.jobEvents(job)); after != before {
		t.Errorf("duplicate progress recorded %d events", after-before)
	}
	for _, bad := range []float64{-0.1, 1.01, math.NaN()} {
		if _, _, err := x.h.ReportProgress(x.ctx, job, node, domain.Progress{Fraction: bad}); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Errorf("progress %v: got %v, want ErrInvalidArgument", bad, err)
		}
	}
	if _, _, err := x.h.ReportProgress(x.ctx, job, other, domain.Progress{Fraction: 0.9}); !errors.Is(err, domain.ErrPermissionDenied) {
		t.Errorf("progress from another node: got %v, want ErrPermissionDenied", err)
	}
	if _, _, err := x.h.CompleteJob(x.ctx, job, other, domain.JobResult{}); !errors.Is(err, domain.ErrPermissionDenied) {
		t.Errorf("complete by another node: got %v, want ErrPermissionDenied", err)
	}
	if _, _, err := x.h.CancelJob(x.ctx, job, "mallory", ""); !errors.Is(err, domain.ErrPermissionDenied) {
		t.Errorf("cancel by another user: got %v, want ErrPermissionDenied", err)
	}

	j, _, err = x.h.CompleteJob(x.ctx, job, node, domain.JobResult{ModelWeightsURI: "s3://w", ComputeTimeMs: 1234})
	if err != nil {
		t.Fatal(err)
	}
	if j.Status() != domain.JobStatusCompleted {
		t.Fatalf("after complete: %s", j.Status())
	}
	want := []string{"JobSubmitted", "JobAssigned", "JobAccepted", "JobStarted", "JobProgressed", "JobCompleted"}
	if got := eventNames(x.jobEvents(job)); !slices.Equal(got, want) {
		t.Errorf("job stream %v, want %v", got, want)
	}
	f := x.foldNode(node)
	if len(f.active) != 0 || f.reserved[job] != 1 || f.released[job] != 1 {
		t.Errorf("after complete the node holds %v (reserved %d, released %d), want its slot freed once",
			f.active, f.reserved[job], f.released[job])
	}

	// A terminal job never changes again.
	end := len(x.jobEvents(job))
	if _, _, err := x.h.CancelJob(x.ctx, job, "alice", ""); !errors.Is(err, domain.ErrFailedPrecondition) {
		t.Errorf("cancel a completed job: got %v, want ErrFailedPrecondition", err)
	}
	if _, _, err := x.h.FailJob(x.ctx, job, node, "late"); !errors.Is(err, domain.ErrFailedPrecondition) {
		t.Errorf("fail a completed job: got %v, want ErrFailedPrecondition", err)
	}
	if _, _, err := x.h.RejectJob(x.ctx, job, node, "late"); !errors.Is(err, domain.ErrFailedPrecondition) {
		t.Errorf("reject a completed job: got %v, want ErrFailedPrecondition", err)
	}
	if _, pos, err := x.h.TimeOutJob(x.ctx, job, node, domain.PhaseRun); err != nil || pos != 0 {
		t.Errorf("time out a completed job: pos=%d err=%v, want a no-op", pos, err)
	}
	if _, pos, err := x.h.CompleteJob(x.ctx, job, node, domain.JobResult{}); err != nil || pos != 0 {
		t.Errorf("duplicate completion: pos=%d err=%v, want a no-op", pos, err)
	}
	if n := len(x.jobEvents(job)); n != end {
		t.Errorf("a completed job got %d more events", n-end)
	}
	// Only the owner deletes it, once.
	if _, _, err := x.h.DeleteJob(x.ctx, job, "mallory"); !errors.Is(err, domain.ErrPermissionDenied) {
		t.Errorf("delete by another user: got %v, want ErrPermissionDenied", err)
	}
	if _, _, err := x.h.DeleteJob(x.ctx, job, "alice"); err != nil {
		t.Fatal(err)
	}
	if _, pos, err := x.h.DeleteJob(x.ctx, job, "alice"); err != nil || pos != 0 {
		t.Errorf("delete twice: pos=%d err=%v", pos, err)
	}
}

func TestHandlerRejectRequeuesAndPenalizes(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	node := x.registerNode(0, true)
	job := x.submit("alice")
	x.assign(job, node)

	j, _, err := x.h.RejectJob(x.ctx, job, node, "busy")
	if err != nil {
		t.Fatal(err)
	}
	if j.Status() != domain.JobStatusPending || j.Node() != "" || j.Requeues() != 1 {
		t.Errorf("after reject: %s on %q, requeues %d; want pending, no node, 1 requeue", j.Status(), j.Node(), j.Requeues())
	}
	evs := x.jobEvents(job)
	if got := eventNames(evs)[2:]; !slices.Equal(got, []string{"JobRejected", "JobRequeued"}) {
		t.Errorf("reject recorded %v", got)
	}
	if r := only[domain.JobRejected](evs); len(r) != 1 || r[0].Reason != "busy" || r[0].NodeID != node {
		t.Errorf("JobRejected: %+v", r)
	}
	n := x.node(node)
	if len(n.ActiveJobs()) != 0 {
		t.Errorf("the node still holds %v", n.ActiveJobs())
	}
	if want := domain.InitialReputation - x.policy.PenaltyReject; math.Abs(n.Reputation()-want) > 1e-9 {
		t.Errorf("reputation %v, want %v", n.Reputation(), want)
	}
	if _, _, err := x.h.RejectJob(x.ctx, job, node, "again"); !errors.Is(err, domain.ErrPermissionDenied) {
		t.Errorf("rejecting a job no longer on the node: got %v, want ErrPermissionDenied", err)
	}
	// Back in the queue: it can be assigned again, as attempt 2.
	j, _, err = x.h.AssignJob(x.ctx, job, node, 1)
	if err != nil || j.Attempts() != 2 {
		t.Fatalf("reassign: attempt %d, err %v", j.Attempts(), err)
	}
}

func TestHandlerTimeOutRequeuesThenFails(t *testing.T) {
	const retries = 2
	x := newHarness(t, memoryKind, func(p *commands.Policy) { p.MaxRetries = retries })
	node := x.registerNode(0, true)
	job := x.submit("alice")

	for attempt := 1; attempt <= retries+1; attempt++ {
		x.assign(job, node)
		// A run deadline does not apply to a job never accepted.
		if _, pos, err := x.h.TimeOutJob(x.ctx, job, node, domain.PhaseRun); err != nil || pos != 0 {
			t.Fatalf("attempt %d: run timeout of an unaccepted job: pos=%d err=%v, want a no-op", attempt, pos, err)
		}
		j, _, err := x.h.TimeOutJob(x.ctx, job, node, domain.PhaseAccept)
		if err != nil {
			t.Fatalf("attempt %d: %v", attempt, err)
		}
		wantStatus := domain.JobStatusPending
		if attempt > retries {
			wantStatus = domain.JobStatusFailed
		}
		if j.Status() != wantStatus {
			t.Fatalf("attempt %d: job is %s, want %s", attempt, j.Status(), wantStatus)
		}
		if h := x.node(node); len(h.ActiveJobs()) != 0 {
			t.Fatalf("attempt %d: node still holds %v", attempt, h.ActiveJobs())
		}
	}
	evs := x.jobEvents(job)
	if n := countOf[domain.JobTimedOut](evs); n != retries+1 {
		t.Errorf("%d JobTimedOut, want %d", n, retries+1)
	}
	if n := countOf[domain.JobRequeued](evs); n != retries {
		t.Errorf("%d JobRequeued, want %d", n, retries)
	}
	if f := only[domain.JobFailed](evs); len(f) != 1 || !strings.Contains(f[0].Reason, "retries exhausted") {
		t.Errorf("JobFailed: %+v", f)
	}
	for _, to := range only[domain.JobTimedOut](evs) {
		if to.Phase != domain.PhaseAccept {
			t.Errorf("phase %q, want %q", to.Phase, domain.PhaseAccept)
		}
	}
	want := domain.InitialReputation - float64(retries+1)*x.policy.PenaltyTimeout
	if r := x.node(node).Reputation(); math.Abs(r-want) > 1e-9 {
		t.Errorf("reputation %v, want %v (one timeout penalty per timeout)", r, want)
	}
	if n := countOf[domain.NodeJobReleased](x.nodeEvents(node)); n != retries+1 {
		t.Errorf("%d NodeJobReleased, want %d", n, retries+1)
	}
	if _, _, err := x.h.TimeOutJob(x.ctx, job, node, "lunch"); !errors.Is(err, domain.ErrInvalidArgument) {
		t.Errorf("unknown phase: got %v, want ErrInvalidArgument", err)
	}
}

func TestHandlerMarkNodeOffline(t *testing.T) {
	for _, tc := range []struct {
		name     string
		jobs     int
		accepted int // how many of them the node accepted and started
	}{
		{"idle", 0, 0},
		{"assigned only", 2, 0},
		{"assigned and running", 3, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newHarness(t, memoryKind, nil)
			node := x.registerNode(0, true)
			bystander := x.registerNode(1, true)
			var jobs []string
			for i := range tc.jobs {
				j := x.submit("alice")
				x.assign(j, node)
				if i < tc.accepted {
					if _, _, err := x.h.ReportProgress(x.ctx, j, node, domain.Progress{Fraction: 0.1}); err != nil {
						t.Fatal(err)
					}
				}
				jobs = append(jobs, j)
			}
			other := x.submit("bob")
			x.assign(other, bystander)

			n, _, err := x.h.MarkNodeOffline(x.ctx, node, "lease expired")
			if err != nil {
				t.Fatal(err)
			}
			if n.Online() {
				t.Error("node still online")
			}
			for _, j := range jobs {
				job := x.job(j)
				if job.Status() != domain.JobStatusPending || job.Node() != "" {
					t.Errorf("job %s: %s on %q, want requeued", j, job.Status(), job.Node())
				}
				if r := only[domain.JobRequeued](x.jobEvents(j)); len(r) != 1 || r[0].PreviousNode != node {
					t.Errorf("job %s: JobRequeued %+v", j, r)
				}
			}
			after := x.node(node)
			if len(after.ActiveJobs()) != 0 {
				t.Errorf("offline node holds %v", after.ActiveJobs())
			}
			wantRep := domain.InitialReputation
			if tc.jobs > 0 {
				wantRep -= x.policy.PenaltyOffline
			}
			if math.Abs(after.Reputation()-wantRep) > 1e-9 {
				t.Errorf("reputation %v, want %v", after.Reputation(), wantRep)
			}
			evs := x.nodeEvents(node)
			if got, want := countOf[domain.ReputationAdjusted](evs), min(tc.jobs, 1); got != want {
				t.Errorf("%d ReputationAdjusted, want %d", got, want)
			}
			if countOf[domain.NodeWentOffline](evs) != 1 {
				t.Errorf("node stream %v: want one NodeWentOffline", eventNames(evs))
			}
			if j := x.job(other); j.Status() != domain.JobStatusAssigned || j.Node() != bystander {
				t.Errorf("another node's job was touched: %s on %s", j.Status(), j.Node())
			}

			// Offline again: nothing new, no second penalty.
			before := len(evs)
			if _, pos, err := x.h.MarkNodeOffline(x.ctx, node, "again"); err != nil || pos != 0 {
				t.Errorf("second offline: pos=%d err=%v", pos, err)
			}
			if n := len(x.nodeEvents(node)); n != before {
				t.Errorf("second offline recorded %d events", n-before)
			}
		})
	}
}

func TestHandlerAssignRefused(t *testing.T) {
	for _, tc := range []struct {
		name    string
		tweak   func(*commands.Policy)
		prepare func(x *harness, node string)
		want    error
	}{
		{"offline node", nil, func(x *harness, node string) {
			if _, _, err := x.h.MarkNodeOffline(x.ctx, node, "bye"); err != nil {
				x.t.Fatal(err)
			}
		}, domain.ErrFailedPrecondition},
		{"never online", nil, nil, domain.ErrFailedPrecondition},
		{"banned node", nil, func(x *harness, node string) {
			x.appendRaw(domain.NodeStream(node), domain.NodeBanned{NodeID: node, Reason: "fraud", By: "admin", At: x.clock.Now()})
		}, domain.ErrFailedPrecondition},
		{"below reputation floor", func(p *commands.Policy) { p.MinReputation = 0.6 }, nil, domain.ErrFailedPrecondition},
		{"full node", func(p *commands.Policy) { p.MaxJobsPerNode = 1 }, func(x *harness, node string) {
			x.assign(x.submit("bob"), node)
		}, domain.ErrResourceExhausted},
		{"unknown node", nil, func(*harness, string) {}, domain.ErrNotFound},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newHarness(t, memoryKind, tc.tweak)
			node := x.registerNode(0, tc.name != "never online")
			target := node
			if tc.name == "unknown node" {
				target = "4bf92f35-77b4-4c6e-9a3e-0c5f9fb1c1d2"
			}
			if tc.prepare != nil {
				tc.prepare(x, node)
			}
			held := x.node(node).ActiveJobs()
			job := x.submit("alice")
			_, _, err := x.h.AssignJob(x.ctx, job, target, 1)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
			if n := countOf[domain.JobAssigned](x.jobEvents(job)); n != 0 {
				t.Errorf("refused assignment recorded %d JobAssigned", n)
			}
			if got := x.node(node).ActiveJobs(); !slices.Equal(got, held) {
				t.Errorf("node holds %v, held %v before", got, held)
			}
			if j := x.job(job); j.Status() != domain.JobStatusPending {
				t.Errorf("job is %s, want pending", j.Status())
			}
		})
	}
	t.Run("unknown job", func(t *testing.T) {
		x := newHarness(t, memoryKind, nil)
		node := x.registerNode(0, true)
		if _, _, err := x.h.AssignJob(x.ctx, "0f1e2d3c-4b5a-4968-8776-5a4b3c2d1e0f", node, 1); !errors.Is(err, domain.ErrNotFound) {
			t.Errorf("got %v, want ErrNotFound", err)
		}
		if len(x.node(node).ActiveJobs()) != 0 {
			t.Error("a slot was taken for a job that does not exist")
		}
	})
}

func TestHandlerReleaseOrphanSlot(t *testing.T) {
	for _, tc := range []struct {
		name         string
		setup        func(x *harness, node, other, job string)
		wantReleased bool
	}{
		{"pending job, assignment died between appends", func(x *harness, node, _, job string) {
			x.appendRaw(domain.NodeStream(node), domain.NodeJobReserved{NodeID: node, JobID: job, At: x.clock.Now()})
		}, true},
		{"job assigned to another node", func(x *harness, node, other, job string) {
			x.assign(job, other)
			x.appendRaw(domain.NodeStream(node), domain.NodeJobReserved{NodeID: node, JobID: job, At: x.clock.Now()})
		}, true},
		{"job finished but slot left behind", func(x *harness, node, _, job string) {
			x.assign(job, node)
			if _, _, err := x.h.CancelJob(x.ctx, job, "alice", ""); err != nil {
				x.t.Fatal(err)
			}
			x.appendRaw(domain.NodeStream(node), domain.NodeJobReserved{NodeID: node, JobID: job, At: x.clock.Now()})
		}, true},
		{"job on the node", func(x *harness, node, _, job string) {
			x.assign(job, node)
		}, false},
		{"job running on the node", func(x *harness, node, _, job string) {
			x.assign(job, node)
			if _, _, err := x.h.StartJob(x.ctx, job, node); err != nil {
				x.t.Fatal(err)
			}
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			x := newHarness(t, memoryKind, nil)
			node := x.registerNode(0, true)
			other := x.registerNode(1, true)
			job := x.submit("alice")
			tc.setup(x, node, other, job)
			if !x.node(node).Holds(job) {
				t.Fatal("setup: the node holds no slot")
			}
			released, err := x.h.ReleaseOrphanSlot(x.ctx, node, job)
			if err != nil {
				t.Fatal(err)
			}
			if released != tc.wantReleased {
				t.Errorf("released = %v, want %v", released, tc.wantReleased)
			}
			if holds := x.node(node).Holds(job); holds == tc.wantReleased {
				t.Errorf("after: node holds the slot = %v", holds)
			}
			if tc.wantReleased {
				if r := only[domain.NodeJobReleased](x.nodeEvents(node)); len(r) == 0 || r[len(r)-1].Reason != "orphaned reservation" {
					t.Errorf("NodeJobReleased: %+v", r)
				}
			}
		})
	}
}

func TestHandlerRegisterAndReputation(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	id := x.registerNode(0, false)
	// Re-registration by the owner updates; by someone else it is refused.
	spec := nodeSpec(0)
	spec.Region = "eu-west"
	n, created, _, err := x.h.RegisterNode(x.ctx, commands.RegisterNode{NodeID: id, Owner: "operator", Spec: spec})
	if err != nil || created || n.ID() != id || n.Spec().Region != "eu-west" {
		t.Fatalf("re-register: id %s created %v region %q err %v", n.ID(), created, n.Spec().Region, err)
	}
	if _, _, _, err := x.h.RegisterNode(x.ctx, commands.RegisterNode{NodeID: id, Owner: "mallory", Spec: spec}); !errors.Is(err, domain.ErrPermissionDenied) {
		t.Errorf("re-register by another owner: got %v", err)
	}
	// An unknown id gets a fresh one: ids are issued, not chosen.
	n, created, _, err = x.h.RegisterNode(x.ctx, commands.RegisterNode{NodeID: "chosen-id", Owner: "operator", Spec: nodeSpec(1)})
	if err != nil || !created || n.ID() == "chosen-id" {
		t.Errorf("register with an unknown id: id %q created %v err %v", n.ID(), created, err)
	}
	// Reputation is clamped to 0..1, and a clamped no-op records nothing.
	for _, step := range []struct{ delta, want float64 }{{0.7, 1}, {0.3, 1}, {-2, 0}, {-0.1, 0}} {
		n, err := x.h.AdjustReputation(x.ctx, id, step.delta, "test", "")
		if err != nil || n.Reputation() != step.want {
			t.Errorf("adjust %v: reputation %v err %v, want %v", step.delta, n.Reputation(), err, step.want)
		}
	}
	if got := countOf[domain.ReputationAdjusted](x.nodeEvents(id)); got != 2 {
		t.Errorf("%d ReputationAdjusted, want 2 (clamped no-ops record nothing)", got)
	}
	// Online once, however often it is said.
	for range 3 {
		if _, _, err := x.h.MarkNodeOnline(x.ctx, id); err != nil {
			t.Fatal(err)
		}
	}
	if got := countOf[domain.NodeWentOnline](x.nodeEvents(id)); got != 1 {
		t.Errorf("%d NodeWentOnline, want 1", got)
	}
}
