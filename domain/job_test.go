package domain_test

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// jobState is a named point in a job's life, reached by folding events.
type jobState struct {
	name   string
	events []domain.Event
	status domain.JobStatus
}

var testResult = domain.JobResult{
	ModelWeightsURI: "s3://out/w.bin", ModelWeightsHash: "abc", ModelSize: 1024,
	FinalMetrics: map[string]float64{"acc": 0.91}, ComputeTimeMs: 5000, EnergyConsumed: 1.25, ProofOfCompute: "proof",
}

func jobStates() []jobState {
	sub := submitted()
	asg := assigned(nodeA, 1)
	acc := domain.JobAccepted{JobID: jobID, NodeID: nodeA, At: t2}
	st := domain.JobStarted{JobID: jobID, NodeID: nodeA, At: t2}
	running := []domain.Event{sub, asg, acc, st}
	with := func(base []domain.Event, more ...domain.Event) []domain.Event {
		return append(append([]domain.Event{}, base...), more...)
	}
	completed := with(running, domain.JobCompleted{JobID: jobID, NodeID: nodeA, Result: testResult, At: t2})
	return []jobState{
		{"none", nil, domain.JobStatusPending},
		{"pending", with(nil, sub), domain.JobStatusPending},
		{"assigned", with(nil, sub, asg), domain.JobStatusAssigned},
		{"accepted", with(nil, sub, asg, acc), domain.JobStatusAssigned},
		{"running", running, domain.JobStatusRunning},
		{"completed", completed, domain.JobStatusCompleted},
		{"failed", with(running, domain.JobFailed{JobID: jobID, NodeID: nodeA, Reason: "oom", At: t2}), domain.JobStatusFailed},
		{"cancelled", with(running, domain.JobCancelled{JobID: jobID, By: owner, NodeID: nodeA, Reason: "stop", At: t2}), domain.JobStatusCancelled},
		{"deleted", with(completed, domain.JobDeleted{JobID: jobID, By: owner, At: t2}), domain.JobStatusCompleted},
		{"requeued", with(nil, sub, asg, domain.JobRequeued{JobID: jobID, PreviousNode: nodeA, Reason: "node offline", Requeues: 1, At: t2}), domain.JobStatusPending},
	}
}

// outcome is what a decision should do from one state.
type outcome struct {
	err    error            // error kind, or nil
	events []string         // event names, in order (nil: none)
	status domain.JobStatus // status after folding the events
}

func fail(kind error) outcome { return outcome{err: kind} }
func emit(s domain.JobStatus, events ...string) outcome {
	return outcome{events: events, status: s}
}

// noop is "no events, no error"; the status stays what it was.
var noop = outcome{status: -1}

var (
	nf = fail(domain.ErrNotFound)
	pd = fail(domain.ErrPermissionDenied)
	fp = fail(domain.ErrFailedPrecondition)
	ia = fail(domain.ErrInvalidArgument)
)

// allTerminal fills the four finished states with the same outcome.
func allTerminal(m map[string]outcome, o outcome) map[string]outcome {
	for _, s := range []string{"completed", "failed", "cancelled", "deleted"} {
		m[s] = o
	}
	return m
}

// allActive fills assigned, accepted and running with the same outcome.
func allActive(m map[string]outcome, o outcome) map[string]outcome {
	for _, s := range []string{"assigned", "accepted", "running"} {
		m[s] = o
	}
	return m
}

func TestJobStateMachine(t *testing.T) {
	const maxRetries = 3
	progress := domain.Progress{Fraction: 0.5, Epoch: 2, Metrics: map[string]float64{"loss": 0.25}, Log: "epoch 2"}
	P, A, R := domain.JobStatusPending, domain.JobStatusAssigned, domain.JobStatusRunning
	C, F, X := domain.JobStatusCompleted, domain.JobStatusFailed, domain.JobStatusCancelled

	decisions := []struct {
		name string
		do   func(j *domain.Job) ([]domain.Event, error)
		want map[string]outcome
	}{
		{
			name: "Assign",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Assign(nodeB, 42, t3) },
			want: allTerminal(allActive(map[string]outcome{
				"none": nf, "pending": emit(A, "JobAssigned"), "requeued": emit(A, "JobAssigned"),
			}, fp), fp),
		},
		{
			name: "Accept",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Accept(nodeA, t3) },
			want: allTerminal(map[string]outcome{
				"none": nf, "pending": pd, "requeued": pd,
				"assigned": emit(A, "JobAccepted"), "accepted": noop, "running": noop,
			}, fp),
		},
		{
			name: "Accept/other node",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Accept(nodeB, t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": pd, "requeued": pd}, pd), fp),
		},
		{
			name: "Start",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Start(nodeA, t3) },
			want: allTerminal(map[string]outcome{
				"none": nf, "pending": pd, "requeued": pd,
				"assigned": emit(R, "JobStarted"), "accepted": emit(R, "JobStarted"), "running": noop,
			}, fp),
		},
		{
			name: "Start/other node",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Start(nodeB, t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": pd, "requeued": pd}, pd), fp),
		},
		{
			name: "ReportProgress",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.ReportProgress(nodeA, progress, t3) },
			want: allTerminal(map[string]outcome{
				"none": nf, "pending": pd, "requeued": pd,
				"assigned": emit(R, "JobStarted", "JobProgressed"),
				"accepted": emit(R, "JobStarted", "JobProgressed"),
				"running":  emit(R, "JobProgressed"),
			}, noop),
		},
		{
			name: "ReportProgress/other node",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.ReportProgress(nodeB, progress, t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": pd, "requeued": pd}, pd), pd),
		},
		{
			name: "Complete",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Complete(nodeA, testResult, t3) },
			want: allActive(map[string]outcome{
				"none": nf, "pending": pd, "requeued": pd,
				"completed": noop, "deleted": noop, "failed": fp, "cancelled": fp,
			}, emit(C, "JobCompleted")),
		},
		{
			name: "Complete/other node",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Complete(nodeB, testResult, t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": pd, "requeued": pd}, pd), fp),
		},
		{
			name: "Fail",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Fail(nodeA, "oom", t3) },
			want: allActive(map[string]outcome{
				"none": nf, "pending": pd, "requeued": pd,
				"failed": noop, "completed": fp, "cancelled": fp, "deleted": fp,
			}, emit(F, "JobFailed")),
		},
		{
			name: "Fail/other node",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Fail(nodeB, "oom", t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": pd, "requeued": pd}, pd), fp),
		},
		{
			name: "Cancel",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Cancel(owner, "no longer needed", t3) },
			want: allActive(map[string]outcome{
				"none": nf, "pending": emit(X, "JobCancelled"), "requeued": emit(X, "JobCancelled"),
				"cancelled": noop, "completed": fp, "failed": fp, "deleted": fp,
			}, emit(X, "JobCancelled")),
		},
		{
			name: "Cancel/not owner",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Cancel(stranger, "", t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": pd, "requeued": pd}, pd), pd),
		},
		{
			name: "Delete",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Delete(owner, t3) },
			want: allActive(map[string]outcome{
				"none": nf, "pending": fp, "requeued": fp,
				"completed": emit(C, "JobDeleted"), "failed": emit(F, "JobDeleted"),
				"cancelled": emit(X, "JobDeleted"), "deleted": noop,
			}, fp),
		},
		{
			name: "Delete/not owner",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Delete(stranger, t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": pd, "requeued": pd}, pd), pd),
		},
		{
			name: "Reject",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Reject(nodeA, "", "busy", maxRetries, t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": pd, "requeued": pd},
				emit(P, "JobRejected", "JobRequeued")), fp),
		},
		{
			name: "Reject/other node",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Reject(nodeB, "", "busy", maxRetries, t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": pd, "requeued": pd}, pd), fp),
		},
		{
			name: "TimeOut/accept",
			do: func(j *domain.Job) ([]domain.Event, error) {
				return j.TimeOut(nodeA, domain.PhaseAccept, maxRetries, t3)
			},
			want: allTerminal(map[string]outcome{
				"none": nf, "pending": noop, "requeued": noop,
				"assigned": emit(P, "JobTimedOut", "JobRequeued"), "accepted": noop, "running": noop,
			}, noop),
		},
		{
			name: "TimeOut/run",
			do: func(j *domain.Job) ([]domain.Event, error) {
				return j.TimeOut(nodeA, domain.PhaseRun, maxRetries, t3)
			},
			want: allTerminal(map[string]outcome{
				"none": nf, "pending": noop, "requeued": noop, "assigned": noop,
				"accepted": emit(P, "JobTimedOut", "JobRequeued"),
				"running":  emit(P, "JobTimedOut", "JobRequeued"),
			}, noop),
		},
		{
			name: "TimeOut/unknown phase",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.TimeOut(nodeA, "bogus", maxRetries, t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": ia, "requeued": ia}, ia), ia),
		},
		{
			name: "TimeOut/other node",
			do: func(j *domain.Job) ([]domain.Event, error) {
				return j.TimeOut(nodeB, domain.PhaseRun, maxRetries, t3)
			},
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": noop, "requeued": noop}, noop), noop),
		},
		{
			name: "Requeue",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Requeue(nodeA, "node offline", maxRetries, t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": noop, "requeued": noop},
				emit(P, "JobRequeued")), noop),
		},
		{
			name: "Requeue/other node",
			do:   func(j *domain.Job) ([]domain.Event, error) { return j.Requeue(nodeB, "node offline", maxRetries, t3) },
			want: allTerminal(allActive(map[string]outcome{"none": nf, "pending": noop, "requeued": noop}, noop), noop),
		},
	}

	states := jobStates()
	for _, d := range decisions {
		if len(d.want) != len(states) {
			t.Fatalf("%s: table covers %d states, want %d", d.name, len(d.want), len(states))
		}
		for _, s := range states {
			w, ok := d.want[s.name]
			if !ok {
				t.Fatalf("%s: no outcome for state %q", d.name, s.name)
			}
			t.Run(d.name+"/from "+s.name, func(t *testing.T) {
				j := foldJob(s.events...)
				if j.Status() != s.status {
					t.Fatalf("fixture: status %v, want %v", j.Status(), s.status)
				}
				before := *j // decisions must not change the aggregate
				events, err := d.do(j)
				if !reflect.DeepEqual(before, *j) {
					t.Fatalf("the decision changed the aggregate")
				}
				checkErr(t, err, w.err)
				if w.err != nil {
					if len(events) != 0 {
						t.Fatalf("error with events %v", names(events))
					}
					return
				}
				checkNames(t, events, w.events...)
				for _, e := range events {
					checkJobEventFields(t, e, j)
				}
				v := j.Version()
				for _, e := range events {
					j.Apply(e)
				}
				if j.Version() != v+len(events) {
					t.Fatalf("version = %d, want %d", j.Version(), v+len(events))
				}
				wantStatus := w.status
				if wantStatus == -1 {
					wantStatus = s.status
				}
				if j.Status() != wantStatus {
					t.Fatalf("status after fold = %v, want %v", j.Status(), wantStatus)
				}
			})
		}
	}
}

// checkJobEventFields checks the key fields of an event decided on before
// (the job before the decision) at t3.
func checkJobEventFields(t *testing.T, e domain.Event, before *domain.Job) {
	t.Helper()
	check := func(field string, got, want any) {
		t.Helper()
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s.%s = %v, want %v", e.EventName(), field, got, want)
		}
	}
	switch e := e.(type) {
	case domain.JobAssigned:
		check("JobID", e.JobID, jobID)
		check("NodeID", e.NodeID, nodeB)
		check("Attempt", e.Attempt, before.Attempts()+1)
		check("Score", e.Score, 42.0)
		check("At", e.At, t3)
	case domain.JobAccepted:
		check("JobID", e.JobID, jobID)
		check("NodeID", e.NodeID, nodeA)
		check("At", e.At, t3)
	case domain.JobStarted:
		check("JobID", e.JobID, jobID)
		check("NodeID", e.NodeID, nodeA)
		check("At", e.At, t3)
	case domain.JobProgressed:
		check("JobID", e.JobID, jobID)
		check("NodeID", e.NodeID, nodeA)
		check("Progress", e.Progress, 0.5)
		check("Epoch", e.Epoch, int32(2))
		check("Metrics", e.Metrics, map[string]float64{"loss": 0.25})
		check("Log", e.Log, "epoch 2")
		check("At", e.At, t3)
	case domain.JobCompleted:
		check("JobID", e.JobID, jobID)
		check("NodeID", e.NodeID, nodeA)
		check("Result", e.Result, testResult)
		check("At", e.At, t3)
	case domain.JobFailed:
		check("JobID", e.JobID, jobID)
		check("NodeID", e.NodeID, nodeA)
		check("Reason", e.Reason, "oom")
		check("At", e.At, t3)
	case domain.JobCancelled:
		check("JobID", e.JobID, jobID)
		check("By", e.By, owner)
		check("NodeID", e.NodeID, before.Node())
		check("Reason", e.Reason, "no longer needed")
		check("At", e.At, t3)
	case domain.JobDeleted:
		check("JobID", e.JobID, jobID)
		check("By", e.By, owner)
		check("At", e.At, t3)
	case domain.JobRejected:
		check("JobID", e.JobID, jobID)
		check("NodeID", e.NodeID, nodeA)
		check("Reason", e.Reason, "busy")
		check("At", e.At, t3)
	case domain.JobTimedOut:
		check("JobID", e.JobID, jobID)
		check("NodeID", e.NodeID, nodeA)
		if e.Phase != domain.PhaseAccept && e.Phase != domain.PhaseRun {
			t.Errorf("JobTimedOut.Phase = %q", e.Phase)
		}
		check("At", e.At, t3)
	case domain.JobRequeued:
		check("JobID", e.JobID, jobID)
		check("PreviousNode", e.PreviousNode, nodeA)
		check("Requeues", e.Requeues, before.Requeues()+1)
		if e.Reason == "" {
			t.Errorf("JobRequeued.Reason is empty")
		}
		check("At", e.At, t3)
	default:
		t.Errorf("unexpected event %T", e)
	}
}

// into returns a func that folds a decision's events into j, failing the
// test on an error: into(t, j)(j.Accept(...)).
func into(t *testing.T, j *domain.Job) func([]domain.Event, error) []domain.Event {
	t.Helper()
	return func(events []domain.Event, err error) []domain.Event {
		t.Helper()
		return decideFold(t, j, events, err)
	}
}

// decideFold folds a decision's events into j, failing the test on an error.
func decideFold(t *testing.T, j *domain.Job, events []domain.Event, err error) []domain.Event {
	t.Helper()
	if err != nil {
		t.Fatalf("decision: %v", err)
	}
	for _, e := range events {
		j.Apply(e)
	}
	return events
}

func TestJobLifecycleFold(t *testing.T) {
	sub, err := domain.SubmitJob(jobID, owner, validSpec(), domain.DefaultLimits, t0)
	if err != nil {
		t.Fatal(err)
	}
	j := foldJob(sub)
	if !j.Exists() || j.ID() != jobID || j.Owner() != owner || !reflect.DeepEqual(j.Spec(), validSpec()) ||
		j.Status() != domain.JobStatusPending || !j.SubmittedAt().Equal(t0) || j.Version() != 1 {
		t.Fatalf("after submit: %+v", j)
	}

	into(t, j)(j.Assign(nodeA, 150, t1))
	if j.Status() != domain.JobStatusAssigned || j.Node() != nodeA || j.Accepted() || j.Attempts() != 1 ||
		!j.AssignedAt().Equal(t1) {
		t.Fatalf("after assign: status %v node %q accepted %v attempts %d", j.Status(), j.Node(), j.Accepted(), j.Attempts())
	}

	into(t, j)(j.Accept(nodeA, t1))
	if !j.Accepted() || j.Status() != domain.JobStatusAssigned {
		t.Fatalf("after accept: accepted %v status %v", j.Accepted(), j.Status())
	}

	into(t, j)(j.Start(nodeA, t2))
	if j.Status() != domain.JobStatusRunning || !j.StartedAt().Equal(t2) {
		t.Fatalf("after start: status %v started %v", j.Status(), j.StartedAt())
	}

	m := map[string]float64{"loss": 0.5}
	into(t, j)(j.ReportProgress(nodeA, domain.Progress{Fraction: 0.25, Epoch: 1, Metrics: m}, t2))
	m["loss"] = 99 // the aggregate must not alias the caller's map
	if j.Progress() != 0.25 || j.Epoch() != 1 || !reflect.DeepEqual(j.Metrics(), map[string]float64{"loss": 0.5}) {
		t.Fatalf("after progress: %v %v %v", j.Progress(), j.Epoch(), j.Metrics())
	}
	// a report without metrics keeps the last metrics
	into(t, j)(j.ReportProgress(nodeA, domain.Progress{Fraction: 0.75, Epoch: 2}, t2))
	if j.Progress() != 0.75 || j.Epoch() != 2 || !reflect.DeepEqual(j.Metrics(), map[string]float64{"loss": 0.5}) {
		t.Fatalf("after 2nd progress: %v %v %v", j.Progress(), j.Epoch(), j.Metrics())
	}

	into(t, j)(j.Complete(nodeA, testResult, t3))
	if j.Status() != domain.JobStatusCompleted || !j.Status().Terminal() || j.Progress() != 1 ||
		j.Result() == nil || !reflect.DeepEqual(*j.Result(), testResult) || !j.EndedAt().Equal(t3) {
		t.Fatalf("after complete: status %v progress %v result %v ended %v", j.Status(), j.Progress(), j.Result(), j.EndedAt())
	}

	into(t, j)(j.Delete(owner, t3))
	if !j.Deleted() || j.Status() != domain.JobStatusCompleted {
		t.Fatalf("after delete: deleted %v status %v", j.Deleted(), j.Status())
	}
	if j.Version() != 8 {
		t.Fatalf("version = %d, want 8", j.Version())
	}
}

func TestJobFoldTerminalFields(t *testing.T) {
	base := []domain.Event{submitted(), assigned(nodeA, 1), domain.JobStarted{JobID: jobID, NodeID: nodeA, At: t2}}
	tests := []struct {
		name       string
		last       domain.Event
		status     domain.JobStatus
		reason     string
		wantResult bool
	}{
		{"failed", domain.JobFailed{JobID: jobID, NodeID: nodeA, Reason: "oom", At: t3}, domain.JobStatusFailed, "oom", false},
		{"cancelled", domain.JobCancelled{JobID: jobID, By: owner, NodeID: nodeA, Reason: "stop", At: t3}, domain.JobStatusCancelled, "stop", false},
		{"completed", domain.JobCompleted{JobID: jobID, NodeID: nodeA, Result: testResult, At: t3}, domain.JobStatusCompleted, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := foldJob(append(append([]domain.Event{}, base...), tt.last)...)
			if j.Status() != tt.status || !j.Status().Terminal() || j.Reason() != tt.reason ||
				!j.EndedAt().Equal(t3) || (j.Result() != nil) != tt.wantResult {
				t.Fatalf("status %v reason %q ended %v result %v", j.Status(), j.Reason(), j.EndedAt(), j.Result())
			}
		})
	}
}

func TestJobStatusStrings(t *testing.T) {
	tests := []struct {
		s        domain.JobStatus
		str      string
		terminal bool
	}{
		{domain.JobStatusPending, "pending", false},
		{domain.JobStatusAssigned, "assigned", false},
		{domain.JobStatusRunning, "running", false},
		{domain.JobStatusCompleted, "completed", true},
		{domain.JobStatusFailed, "failed", true},
		{domain.JobStatusCancelled, "cancelled", true},
	}
	for _, tt := range tests {
		if tt.s.String() != tt.str || tt.s.Terminal() != tt.terminal {
			t.Errorf("%d: String %q Terminal %v, want %q %v", tt.s, tt.s.String(), tt.s.Terminal(), tt.str, tt.terminal)
		}
	}
}

func TestJobRequeueResetsRunState(t *testing.T) {
	j := foldJob(submitted(), assigned(nodeA, 1))
	into(t, j)(j.ReportProgress(nodeA, domain.Progress{Fraction: 0.5, Epoch: 3, Metrics: map[string]float64{"l": 1}}, t2))
	into(t, j)(j.Requeue(nodeA, "node offline", 3, t3))
	if j.Status() != domain.JobStatusPending || j.Node() != "" || j.Accepted() || j.Progress() != 0 || j.Epoch() != 0 ||
		j.Metrics() != nil || !j.StartedAt().IsZero() || j.Requeues() != 1 || j.Reason() != "node offline" || j.Attempts() != 1 {
		t.Fatalf("after requeue: status %v node %q accepted %v progress %v epoch %v metrics %v started %v requeues %d reason %q attempts %d",
			j.Status(), j.Node(), j.Accepted(), j.Progress(), j.Epoch(), j.Metrics(), j.StartedAt(), j.Requeues(), j.Reason(), j.Attempts())
	}
	// the next assignment is attempt 2 and starts from a clean slate
	into(t, j)(j.Assign(nodeB, 1, t3))
	if j.Attempts() != 2 || j.Node() != nodeB || j.Progress() != 0 || j.Metrics() != nil {
		t.Fatalf("after reassign: attempts %d node %q", j.Attempts(), j.Node())
	}
	// the old node may no longer report
	_, err := j.ReportProgress(nodeA, domain.Progress{Fraction: 0.9}, t3)
	checkErr(t, err, domain.ErrPermissionDenied)
}

func TestJobRetriesExhausted(t *testing.T) {
	type requeuer func(j *domain.Job, node string, maxRetries int) ([]domain.Event, error)
	paths := []struct {
		name    string
		prepare func(t *testing.T, j *domain.Job, node string) // from assigned
		requeue requeuer
		lead    []string // events before the requeue/fail event
	}{
		{
			name: "Reject",
			requeue: func(j *domain.Job, node string, mr int) ([]domain.Event, error) {
				return j.Reject(node, "", "busy", mr, t3)
			},
			lead: []string{"JobRejected"},
		},
		{
			name: "TimeOut/accept",
			requeue: func(j *domain.Job, node string, mr int) ([]domain.Event, error) {
				return j.TimeOut(node, domain.PhaseAccept, mr, t3)
			},
			lead: []string{"JobTimedOut"},
		},
		{
			name:    "TimeOut/run",
			prepare: func(t *testing.T, j *domain.Job, node string) { into(t, j)(j.Start(node, t2)) },
			requeue: func(j *domain.Job, node string, mr int) ([]domain.Event, error) {
				return j.TimeOut(node, domain.PhaseRun, mr, t3)
			},
			lead: []string{"JobTimedOut"},
		},
		{
			name:    "Requeue",
			prepare: func(t *testing.T, j *domain.Job, node string) { into(t, j)(j.Accept(node, t2)) },
			requeue: func(j *domain.Job, node string, mr int) ([]domain.Event, error) {
				return j.Requeue(node, "node offline", mr, t3)
			},
		},
	}
	for _, p := range paths {
		for _, maxRetries := range []int{0, 1, 3} {
			t.Run(fmt.Sprintf("%s/max=%d", p.name, maxRetries), func(t *testing.T) {
				j := foldJob(submitted())
				for attempt := 1; ; attempt++ {
					node := nodeA
					if attempt%2 == 0 {
						node = nodeB
					}
					into(t, j)(j.Assign(node, 1, t1))
					if j.Attempts() != attempt {
						t.Fatalf("attempt %d: Attempts() = %d", attempt, j.Attempts())
					}
					if p.prepare != nil {
						p.prepare(t, j, node)
					}
					events, err := p.requeue(j, node, maxRetries)
					if err != nil {
						t.Fatal(err)
					}
					if attempt <= maxRetries {
						checkNames(t, events, append(append([]string{}, p.lead...), "JobRequeued")...)
						rq := events[len(events)-1].(domain.JobRequeued)
						if rq.Requeues != attempt || rq.PreviousNode != node {
							t.Fatalf("requeue %d: %+v", attempt, rq)
						}
						decideFold(t, j, events, nil)
						if j.Status() != domain.JobStatusPending || j.Requeues() != attempt {
							t.Fatalf("after requeue %d: status %v requeues %d", attempt, j.Status(), j.Requeues())
						}
						continue
					}
					checkNames(t, events, append(append([]string{}, p.lead...), "JobFailed")...)
					f := events[len(events)-1].(domain.JobFailed)
					if !strings.HasPrefix(f.Reason, "retries exhausted") || f.NodeID != node || f.JobID != jobID || !f.At.Equal(t3) {
						t.Fatalf("final failure: %+v", f)
					}
					decideFold(t, j, events, nil)
					if j.Status() != domain.JobStatusFailed || j.Requeues() != maxRetries || attempt != maxRetries+1 {
						t.Fatalf("status %v requeues %d attempt %d", j.Status(), j.Requeues(), attempt)
					}
					return
				}
			})
		}
	}
}

func TestJobProgressValidation(t *testing.T) {
	tests := []struct {
		name string
		p    domain.Progress
		err  error
	}{
		{"zero", domain.Progress{Fraction: 0, Epoch: 1}, nil},
		{"half", domain.Progress{Fraction: 0.5}, nil},
		{"one", domain.Progress{Fraction: 1}, nil},
		{"negative", domain.Progress{Fraction: -0.001}, domain.ErrInvalidArgument},
		{"above one", domain.Progress{Fraction: 1.0001}, domain.ErrInvalidArgument},
		{"NaN", domain.Progress{Fraction: math.NaN()}, domain.ErrInvalidArgument},
		{"+Inf", domain.Progress{Fraction: math.Inf(1)}, domain.ErrInvalidArgument},
		{"-Inf", domain.Progress{Fraction: math.Inf(-1)}, domain.ErrInvalidArgument},
		{"negative epoch", domain.Progress{Fraction: 0.5, Epoch: -1}, domain.ErrInvalidArgument},
		{"NaN metric", domain.Progress{Fraction: 0.5, Metrics: map[string]float64{"loss": math.NaN()}}, domain.ErrInvalidArgument},
		{"Inf metric", domain.Progress{Fraction: 0.5, Metrics: map[string]float64{"loss": math.Inf(1)}}, domain.ErrInvalidArgument},
		{"-Inf metric", domain.Progress{Fraction: 0.5, Metrics: map[string]float64{"loss": math.Inf(-1)}}, domain.ErrInvalidArgument},
		{"negative metric ok", domain.Progress{Fraction: 0.5, Metrics: map[string]float64{"delta": -3}}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			checkErr(t, tt.p.Validate(), tt.err)
			j := foldJob(submitted(), assigned(nodeA, 1), domain.JobStarted{JobID: jobID, NodeID: nodeA, At: t2})
			events, err := j.ReportProgress(nodeA, tt.p, t3)
			checkErr(t, err, tt.err)
			if tt.err != nil && len(events) != 0 {
				t.Fatalf("events on error: %v", names(events))
			}
		})
	}
}

func TestJobProgressIdempotency(t *testing.T) {
	running := func() *domain.Job {
		j := foldJob(submitted(), assigned(nodeA, 1), domain.JobStarted{JobID: jobID, NodeID: nodeA, At: t2},
			domain.JobProgressed{JobID: jobID, NodeID: nodeA, Progress: 0.5, Epoch: 2, Metrics: map[string]float64{"loss": 0.25}, At: t2})
		return j
	}
	tests := []struct {
		name string
		p    domain.Progress
		want []string
	}{
		{"exact duplicate", domain.Progress{Fraction: 0.5, Epoch: 2, Metrics: map[string]float64{"loss": 0.25}}, nil},
		{"duplicate without metrics", domain.Progress{Fraction: 0.5, Epoch: 2}, nil},
		{"new fraction", domain.Progress{Fraction: 0.75, Epoch: 2}, []string{"JobProgressed"}},
		{"new epoch", domain.Progress{Fraction: 0.5, Epoch: 3}, []string{"JobProgressed"}},
		{"new metrics", domain.Progress{Fraction: 0.5, Epoch: 2, Metrics: map[string]float64{"loss": 0.125}}, []string{"JobProgressed"}},
		{"extra metric", domain.Progress{Fraction: 0.5, Epoch: 2, Metrics: map[string]float64{"loss": 0.25, "acc": 0.5}}, []string{"JobProgressed"}},
		{"log line", domain.Progress{Fraction: 0.5, Epoch: 2, Log: "checkpoint saved"}, []string{"JobProgressed"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := running()
			events, err := j.ReportProgress(nodeA, tt.p, t3)
			checkErr(t, err, nil)
			checkNames(t, events, tt.want...)
		})
	}

	t.Run("assigned job with an unchanged report only starts", func(t *testing.T) {
		j := foldJob(submitted(), assigned(nodeA, 1))
		events, err := j.ReportProgress(nodeA, domain.Progress{}, t3)
		checkErr(t, err, nil)
		checkNames(t, events, "JobStarted")
		decideFold(t, j, events, nil)
		events, err = j.ReportProgress(nodeA, domain.Progress{}, t3)
		checkErr(t, err, nil)
		checkNames(t, events)
	})
}

func TestJobCompleteResultValidation(t *testing.T) {
	mod := func(f func(r *domain.JobResult)) domain.JobResult {
		r := testResult
		r.FinalMetrics = map[string]float64{"acc": 0.9}
		f(&r)
		return r
	}
	tests := []struct {
		name string
		r    domain.JobResult
		err  error
	}{
		{"valid", testResult, nil},
		{"empty result", domain.JobResult{}, nil},
		{"NaN final metric", mod(func(r *domain.JobResult) { r.FinalMetrics["acc"] = math.NaN() }), domain.ErrInvalidArgument},
		{"Inf final metric", mod(func(r *domain.JobResult) { r.FinalMetrics["acc"] = math.Inf(1) }), domain.ErrInvalidArgument},
		{"negative model size", mod(func(r *domain.JobResult) { r.ModelSize = -1 }), domain.ErrInvalidArgument},
		{"negative compute time", mod(func(r *domain.JobResult) { r.ComputeTimeMs = -1 }), domain.ErrInvalidArgument},
		{"NaN energy", mod(func(r *domain.JobResult) { r.EnergyConsumed = math.NaN() }), domain.ErrInvalidArgument},
		{"Inf energy", mod(func(r *domain.JobResult) { r.EnergyConsumed = math.Inf(1) }), domain.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := foldJob(submitted(), assigned(nodeA, 1), domain.JobStarted{JobID: jobID, NodeID: nodeA, At: t2})
			events, err := j.Complete(nodeA, tt.r, t3)
			checkErr(t, err, tt.err)
			if tt.err == nil {
				checkNames(t, events, "JobCompleted")
			} else if len(events) != 0 {
				t.Fatalf("events on error: %v", names(events))
			}
		})
	}
}

func TestJobFailDefaultReason(t *testing.T) {
	j := foldJob(submitted(), assigned(nodeA, 1))
	events, err := j.Fail(nodeA, "", t3)
	checkErr(t, err, nil)
	checkNames(t, events, "JobFailed")
	if r := events[0].(domain.JobFailed).Reason; r == "" {
		t.Fatalf("empty failure reason")
	}
}

func TestJobCancelFromPendingHasNoNode(t *testing.T) {
	j := foldJob(submitted())
	events, err := j.Cancel(owner, "changed my mind", t3)
	checkErr(t, err, nil)
	checkNames(t, events, "JobCancelled")
	if c := events[0].(domain.JobCancelled); c.NodeID != "" || c.By != owner || c.Reason != "changed my mind" {
		t.Fatalf("%+v", c)
	}
	decideFold(t, j, events, nil)
	if j.Status() != domain.JobStatusCancelled || j.Reason() != "changed my mind" || !j.EndedAt().Equal(t3) {
		t.Fatalf("status %v reason %q ended %v", j.Status(), j.Reason(), j.EndedAt())
	}
	// a cancelled job can no longer be assigned, and deleting it is allowed once
	_, err = j.Assign(nodeA, 1, t3)
	checkErr(t, err, domain.ErrFailedPrecondition)
	into(t, j)(j.Delete(owner, t3))
	events, err = j.Delete(owner, t3)
	checkErr(t, err, nil)
	checkNames(t, events)
}

func TestSubmitJob(t *testing.T) {
	tests := []struct {
		name  string
		id    string
		owner string
		spec  domain.JobSpec
		err   error
	}{
		{"valid", jobID, owner, validSpec(), nil},
		{"zero spec", jobID, owner, domain.JobSpec{}, nil},
		{"no id", "", owner, validSpec(), domain.ErrInvalidArgument},
		{"no owner", jobID, "", validSpec(), domain.ErrInvalidArgument},
		{"invalid spec", jobID, owner, domain.JobSpec{Priority: 9}, domain.ErrInvalidArgument},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, err := domain.SubmitJob(tt.id, tt.owner, tt.spec, domain.DefaultLimits, t0)
			checkErr(t, err, tt.err)
			if tt.err != nil {
				if !reflect.DeepEqual(e, domain.JobSubmitted{}) {
					t.Fatalf("non-zero event on error: %+v", e)
				}
				return
			}
			want := domain.JobSubmitted{JobID: tt.id, Owner: tt.owner, Spec: tt.spec, At: t0}
			if !reflect.DeepEqual(e, want) {
				t.Fatalf("got %+v, want %+v", e, want)
			}
			if e.EventName() != "JobSubmitted" || domain.JobStream(tt.id) != "job-"+tt.id {
				t.Fatalf("name %q stream %q", e.EventName(), domain.JobStream(tt.id))
			}
		})
	}
}

func TestQueueLess(t *testing.T) {
	older, newer := t0, t0.Add(time.Minute)
	tests := []struct {
		name   string
		pa     domain.Priority
		ta     time.Time
		ida    string
		pb     domain.Priority
		tb     time.Time
		idb    string
		aFirst bool
	}{
		{"critical before high", domain.PriorityCritical, newer, "z", domain.PriorityHigh, older, "a", true},
		{"high before normal", domain.PriorityHigh, newer, "z", domain.PriorityNormal, older, "a", true},
		{"normal before low", domain.PriorityNormal, newer, "z", domain.PriorityLow, older, "a", true},
		{"low after critical", domain.PriorityLow, older, "a", domain.PriorityCritical, newer, "z", false},
		{"same priority: older first", domain.PriorityNormal, older, "z", domain.PriorityNormal, newer, "a", true},
		{"same priority: newer later", domain.PriorityNormal, newer, "a", domain.PriorityNormal, older, "z", false},
		{"same priority and age: id order", domain.PriorityHigh, older, "a", domain.PriorityHigh, older, "b", true},
		{"same priority and age: id order reversed", domain.PriorityHigh, older, "b", domain.PriorityHigh, older, "a", false},
		{"identical: not less", domain.PriorityHigh, older, "a", domain.PriorityHigh, older, "a", false},
		{"same instant, other zone", domain.PriorityLow, older, "a", domain.PriorityLow, older.In(time.FixedZone("X", 3600)), "b", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.QueueLess(tt.pa, tt.ta, tt.ida, tt.pb, tt.tb, tt.idb); got != tt.aFirst {
				t.Fatalf("QueueLess = %v, want %v", got, tt.aFirst)
			}
		})
	}
}

// The error kinds must stay distinct sentinels.
func TestErrorKindsDistinct(t *testing.T) {
	for i, a := range errKinds {
		for k, b := range errKinds {
			if (i == k) != errors.Is(a, b) {
				t.Errorf("errors.Is(%v, %v) = %v", a, b, errors.Is(a, b))
			}
		}
	}
}
