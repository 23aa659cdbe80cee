package readmodeltest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// step is one event of a job's life and how it changes the expected view
// (nil: it does not change the job's view).
type step struct {
	name   string
	event  domain.Event
	change func(w *projections.JobView, e projections.Envelope)
}

// runSteps applies steps one batch each and checks the job's view after
// each; it returns the envelopes it applied.
func runSteps(t *testing.T, m ReadModelUnderTest, h *History, jobID string, steps []step) []projections.Envelope {
	t.Helper()
	var want projections.JobView
	var envs []projections.Envelope
	for _, st := range steps {
		e := h.Envelope(st.event)
		envs = append(envs, e)
		apply(t, m, e)
		if st.change != nil {
			st.change(&want, e)
			want.Revision, want.Position = e.Revision, e.Position
		}
		if want.Deleted {
			if _, found, err := m.GetJob(ctx(t), jobID); found || err != nil {
				t.Fatalf("after %s: GetJob found a deleted job (err %v)", st.name, err)
			}
			continue
		}
		diffJob(t, "after "+st.name, getJob(t, m, jobID), want)
	}
	return envs
}

func registerNodes(h *History, ids ...string) []projections.Envelope {
	var out []projections.Envelope
	for _, id := range ids {
		out = append(out, h.Envelopes(
			domain.NodeRegistered{NodeID: id, Owner: "op", Spec: NodeSpec(id, "eu-west", 1, GPU(24*GiB)),
				Reputation: domain.InitialReputation, At: T0},
			domain.NodeWentOnline{NodeID: id, At: T0},
		)...)
	}
	return out
}

func testJobLifecycle(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	h := NewHistory()
	apply(t, m, registerNodes(h, "n1")...)
	updates, cancel := m.WatchJob("job-1")
	defer cancel()

	spec := JobSpec(domain.JobTypeTraining, domain.PriorityHigh, domain.DeviceCUDA, 4*GiB)
	spec.InitialData = []byte("the weights, too large for a view")
	viewSpec := spec
	viewSpec.InitialData = nil
	result := domain.JobResult{ModelWeightsURI: "s3://w/1", ModelWeightsHash: "abc", ModelSize: 1 << 20,
		FinalMetrics: map[string]float64{"loss": 0.05}, ComputeTimeMs: 90_000, EnergyConsumed: 1.5, ProofOfCompute: "proof"}
	steps := []step{
		{"JobSubmitted", domain.JobSubmitted{JobID: "job-1", Owner: "alice", Spec: spec, At: At(time.Minute)},
			func(w *projections.JobView, e projections.Envelope) {
				*w = projections.JobView{ID: "job-1", Owner: "alice", Spec: viewSpec, Status: domain.JobStatusPending,
					SubmittedAt: At(time.Minute), SubmittedPosition: e.Position}
			}},
		{"NodeJobReserved", domain.NodeJobReserved{NodeID: "n1", JobID: "job-1", At: At(2 * time.Minute)}, nil},
		{"JobAssigned", domain.JobAssigned{JobID: "job-1", NodeID: "n1", Attempt: 1, Score: 170, At: At(2 * time.Minute)},
			func(w *projections.JobView, _ projections.Envelope) {
				w.Status, w.NodeID, w.Attempts, w.AssignedAt = domain.JobStatusAssigned, "n1", 1, At(2*time.Minute)
			}},
		{"JobAccepted", domain.JobAccepted{JobID: "job-1", NodeID: "n1", At: At(3 * time.Minute)},
			func(w *projections.JobView, _ projections.Envelope) {
				w.Accepted, w.AcceptedAt = true, At(3*time.Minute)
			}},
		{"JobStarted", domain.JobStarted{JobID: "job-1", NodeID: "n1", At: At(4 * time.Minute)},
			func(w *projections.JobView, _ projections.Envelope) {
				w.Status, w.StartedAt = domain.JobStatusRunning, At(4*time.Minute)
			}},
		{"JobProgressed", domain.JobProgressed{JobID: "job-1", NodeID: "n1", Progress: 0.5, Epoch: 5,
			Metrics: map[string]float64{"loss": 0.3}, Log: "epoch 5/10", At: At(5 * time.Minute)},
			func(w *projections.JobView, _ projections.Envelope) {
				w.Progress, w.Epoch, w.Metrics, w.LastLog = 0.5, 5, map[string]float64{"loss": 0.3}, "epoch 5/10"
			}},
		{"JobProgressed without metrics or log", domain.JobProgressed{JobID: "job-1", NodeID: "n1", Progress: 0.9, Epoch: 9,
			At: At(6 * time.Minute)},
			func(w *projections.JobView, _ projections.Envelope) { w.Progress, w.Epoch = 0.9, 9 }},
		{"JobCompleted", domain.JobCompleted{JobID: "job-1", NodeID: "n1", Result: result, At: At(7 * time.Minute)},
			func(w *projections.JobView, _ projections.Envelope) {
				r := result
				w.Status, w.Progress, w.Result, w.EndedAt = domain.JobStatusCompleted, 1, &r, At(7*time.Minute)
			}},
		{"NodeJobReleased", domain.NodeJobReleased{NodeID: "n1", JobID: "job-1", Reason: "completed", At: At(7 * time.Minute)}, nil},
		{"JobDeleted", domain.JobDeleted{JobID: "job-1", By: "alice", At: At(8 * time.Minute)},
			func(w *projections.JobView, _ projections.Envelope) { w.Deleted = true }},
	}
	envs := runSteps(t, m, h, "job-1", steps)

	// The watcher, registered before the job existed, saw every job event
	// up to the terminal one, then its channel closed.
	var jobEnvs []projections.Envelope
	for _, e := range envs {
		if _, ok := projections.JobIDOf(e.Event); ok {
			jobEnvs = append(jobEnvs, e)
		}
	}
	got := drain(t, updates)
	if len(got) != len(jobEnvs)-1 { // all but JobDeleted, which came after the end
		t.Fatalf("watcher got %d updates, want %d", len(got), len(jobEnvs)-1)
	}
	for i, u := range got {
		e := jobEnvs[i]
		if u.Event != e.Event.EventName() || u.Job.Position != e.Position || u.Job.ID != "job-1" {
			t.Errorf("update %d = %s at %d, want %s at %d", i, u.Event, u.Job.Position, e.Event.EventName(), e.Position)
		}
		if p, ok := e.Event.(domain.JobProgressed); ok {
			if u.Log != p.Log { // the node's own line, or none
				t.Errorf("update %d log %q, want the node's %q", i, u.Log, p.Log)
			}
		} else if u.Log == "" {
			t.Errorf("update %d (%s) has no log line", i, u.Event)
		}
	}
	if p := got[4]; p.Log != "epoch 5/10" || p.LiveMetrics["loss"] != 0.3 || p.Job.Progress != 0.5 {
		t.Errorf("progress update = log %q metrics %v progress %v", p.Log, p.LiveMetrics, p.Job.Progress)
	}
	if last := got[len(got)-1]; last.Job.Status != domain.JobStatusCompleted || !last.Terminal() {
		t.Errorf("last update status %s, want completed", last.Job.Status)
	}
	cancel() // after close: harmless
}

func testJobPaths(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	spec := JobSpec(domain.JobTypeInference, domain.PriorityNormal, domain.DeviceCUDA, GiB)
	submitted := func(id string) step {
		return step{"JobSubmitted", domain.JobSubmitted{JobID: id, Owner: "bob", Spec: spec, At: At(time.Minute)},
			func(w *projections.JobView, e projections.Envelope) {
				*w = projections.JobView{ID: id, Owner: "bob", Spec: spec, Status: domain.JobStatusPending,
					SubmittedAt: At(time.Minute), SubmittedPosition: e.Position}
			}}
	}
	assigned := func(id, node string, attempt int, at time.Duration) step {
		return step{"JobAssigned", domain.JobAssigned{JobID: id, NodeID: node, Attempt: attempt, At: At(at)},
			func(w *projections.JobView, _ projections.Envelope) {
				w.Status, w.NodeID, w.Attempts, w.AssignedAt = domain.JobStatusAssigned, node, attempt, At(at)
			}}
	}
	started := func(id, node string, at time.Duration) step {
		return step{"JobStarted", domain.JobStarted{JobID: id, NodeID: node, At: At(at)},
			func(w *projections.JobView, _ projections.Envelope) {
				// Starting implies accepting.
				w.Status, w.StartedAt, w.Accepted, w.AcceptedAt = domain.JobStatusRunning, At(at), true, At(at)
			}}
	}
	progressed := func(id, node string, p float64) step {
		return step{"JobProgressed", domain.JobProgressed{JobID: id, NodeID: node, Progress: p, Epoch: 2,
			Metrics: map[string]float64{"acc": p}, Log: "working", At: At(20 * time.Minute)},
			func(w *projections.JobView, _ projections.Envelope) {
				w.Progress, w.Epoch, w.Metrics, w.LastLog = p, 2, map[string]float64{"acc": p}, "working"
			}}
	}
	requeued := func(id, node, reason string, n int) step {
		return step{"JobRequeued", domain.JobRequeued{JobID: id, PreviousNode: node, Reason: reason, Requeues: n, At: At(30 * time.Minute)},
			func(w *projections.JobView, _ projections.Envelope) {
				w.Status, w.NodeID, w.Requeues, w.Reason = domain.JobStatusPending, "", n, reason
				w.Accepted, w.AcceptedAt, w.StartedAt = false, time.Time{}, time.Time{}
				w.Progress, w.Epoch, w.Metrics = 0, 0, nil
			}}
	}
	tests := []struct {
		name  string
		steps []step
	}{
		{"rejected, requeued, timed out, failed", []step{
			submitted("j"),
			assigned("j", "n1", 1, 2*time.Minute),
			{"JobRejected", domain.JobRejected{JobID: "j", NodeID: "n1", Reason: "busy", At: At(3 * time.Minute)}, func(*projections.JobView, projections.Envelope) {}},
			requeued("j", "n1", "rejected by node: busy", 1),
			assigned("j", "n2", 2, 31*time.Minute),
			{"JobAccepted", domain.JobAccepted{JobID: "j", NodeID: "n2", At: At(32 * time.Minute)},
				func(w *projections.JobView, _ projections.Envelope) {
					w.Accepted, w.AcceptedAt = true, At(32*time.Minute)
				}},
			{"JobTimedOut", domain.JobTimedOut{JobID: "j", NodeID: "n2", Phase: domain.PhaseRun, At: At(90 * time.Minute)}, func(*projections.JobView, projections.Envelope) {}},
			{"JobFailed", domain.JobFailed{JobID: "j", NodeID: "n2", Reason: "retries exhausted", At: At(90 * time.Minute)},
				func(w *projections.JobView, _ projections.Envelope) {
					w.Status, w.Reason, w.EndedAt = domain.JobStatusFailed, "retries exhausted", At(90*time.Minute)
				}},
		}},
		{"node lost while running, requeued, then cancelled", []step{
			submitted("k"),
			assigned("k", "n1", 1, 2*time.Minute),
			started("k", "n1", 3*time.Minute),
			progressed("k", "n1", 0.4),
			requeued("k", "n1", "node went offline: lease expired", 1),
			assigned("k", "n2", 2, 40*time.Minute),
			started("k", "n2", 41*time.Minute),
			progressed("k", "n2", 0.1),
			{"JobCancelled", domain.JobCancelled{JobID: "k", By: "bob", NodeID: "n2", Reason: "no longer needed", At: At(50 * time.Minute)},
				func(w *projections.JobView, _ projections.Envelope) {
					w.Status, w.Reason, w.EndedAt = domain.JobStatusCancelled, "no longer needed", At(50*time.Minute)
				}},
		}},
		{"cancelled while pending", []step{
			submitted("c"),
			{"JobCancelled", domain.JobCancelled{JobID: "c", By: "bob", At: At(2 * time.Minute)},
				func(w *projections.JobView, _ projections.Envelope) {
					w.Status, w.EndedAt = domain.JobStatusCancelled, At(2*time.Minute)
				}},
		}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := newModel(t)
			h := NewHistory()
			apply(t, m, registerNodes(h, "n1", "n2")...)
			id := tc.steps[0].event.(domain.JobSubmitted).JobID
			runSteps(t, m, h, id, tc.steps)
		})
	}

	t.Run("events of an unknown job are ignored", func(t *testing.T) {
		m := newModel(t)
		h := NewHistory()
		apply(t, m, h.Envelopes(domain.JobAssigned{JobID: "ghost", NodeID: "n1", Attempt: 1, At: T0})...)
		if _, found, err := m.GetJob(ctx(t), "ghost"); found || err != nil {
			t.Fatalf("GetJob(ghost) = found %v, err %v", found, err)
		}
		if n := len(m.Assignments()); n != 0 {
			t.Fatalf("Assignments has %d entries, want 0", n)
		}
	})
}

// jobFact is what the paging test knows about a job it generated.
type jobFact struct {
	id      string
	owner   string
	typ     domain.JobType
	status  domain.JobStatus
	deleted bool
}

// pagingHistory submits 250 jobs for "pager" and 60 for "other",
// interleaved, in several types and states, some deleted.
func pagingHistory() ([]projections.Envelope, []jobFact) {
	h := NewHistory()
	envs := registerNodes(h, "n1")
	var facts []jobFact
	pager, other := 0, 0
	for i := range 310 {
		f := jobFact{owner: "pager"}
		k := pager
		if i%5 == 4 && other < 60 {
			f.owner, k = "other", other
			other++
		} else {
			pager++
		}
		f.id = fmt.Sprintf("%s-%03d", f.owner, k)
		f.typ = domain.JobType(1 + k%4)
		at := At(time.Duration(i) * time.Second)
		envs = append(envs, h.Envelope(domain.JobSubmitted{JobID: f.id, Owner: f.owner,
			Spec: JobSpec(f.typ, domain.PriorityNormal, domain.DeviceCUDA, GiB), At: at}))
		assign := func() {
			envs = append(envs, h.Envelopes(
				domain.NodeJobReserved{NodeID: "n1", JobID: f.id, At: at},
				domain.JobAssigned{JobID: f.id, NodeID: "n1", Attempt: 1, At: at})...)
		}
		switch k % 10 {
		case 0:
			assign()
			f.status = domain.JobStatusAssigned
		case 1:
			assign()
			envs = append(envs, h.Envelope(domain.JobStarted{JobID: f.id, NodeID: "n1", At: at}))
			f.status = domain.JobStatusRunning
		case 2, 3:
			assign()
			envs = append(envs, h.Envelopes(
				domain.JobCompleted{JobID: f.id, NodeID: "n1", At: at},
				domain.NodeJobReleased{NodeID: "n1", JobID: f.id, At: at})...)
			f.status = domain.JobStatusCompleted
			if k%10 == 3 {
				envs = append(envs, h.Envelope(domain.JobDeleted{JobID: f.id, By: f.owner, At: at}))
				f.deleted = true
			}
		case 4:
			envs = append(envs, h.Envelope(domain.JobCancelled{JobID: f.id, By: f.owner, At: at}))
			f.status = domain.JobStatusCancelled
		case 5:
			assign()
			envs = append(envs, h.Envelopes(
				domain.JobFailed{JobID: f.id, NodeID: "n1", Reason: "boom", At: at},
				domain.NodeJobReleased{NodeID: "n1", JobID: f.id, At: at})...)
			f.status = domain.JobStatusFailed
		default:
			f.status = domain.JobStatusPending
		}
		facts = append(facts, f)
	}
	return envs, facts
}

func typ(t domain.JobType) *domain.JobType { return &t }

func testListJobsPaging(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	envs, facts := pagingHistory()
	applyInBatches(t, m, envs)

	tests := []struct {
		name   string
		filter projections.JobFilter
	}{
		{"one owner, everything", projections.JobFilter{Owner: "pager"}},
		{"one owner, one type", projections.JobFilter{Owner: "pager", Type: typ(domain.JobTypeTraining)}},
		{"one owner, in progress", projections.JobFilter{Owner: "pager", Statuses: projections.InProgress}},
		{"one owner, completed inference", projections.JobFilter{Owner: "pager", Type: typ(domain.JobTypeInference),
			Statuses: []domain.JobStatus{domain.JobStatusCompleted}}},
		{"one owner, a status listed twice", projections.JobFilter{Owner: "pager",
			Statuses: []domain.JobStatus{domain.JobStatusPending, domain.JobStatusPending}}},
		{"other owner, pending", projections.JobFilter{Owner: "other", Statuses: []domain.JobStatus{domain.JobStatusPending}}},
		{"every owner", projections.JobFilter{}},
		{"every owner, failed or cancelled", projections.JobFilter{
			Statuses: []domain.JobStatus{domain.JobStatusFailed, domain.JobStatusCancelled}}},
		{"unknown owner", projections.JobFilter{Owner: "nobody"}},
		{"a type nobody submitted", projections.JobFilter{Type: typ(domain.JobTypeUnknown)}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			// Expected: the matching, visible jobs, newest first.
			var want []string
			for i := len(facts) - 1; i >= 0; i-- {
				f := facts[i]
				if f.deleted || (tc.filter.Owner != "" && f.owner != tc.filter.Owner) ||
					(tc.filter.Type != nil && f.typ != *tc.filter.Type) ||
					(len(tc.filter.Statuses) > 0 && !slices.Contains(tc.filter.Statuses, f.status)) {
					continue
				}
				want = append(want, f.id)
			}
			const size = 7
			f := tc.filter
			f.PageSize = size
			var got []string
			for page := 0; ; page++ {
				if page > len(want)/size+1 {
					t.Fatalf("more than %d pages", page)
				}
				jobs, next, total, err := m.ListJobs(ctx(t), f)
				if err != nil {
					t.Fatalf("page %d: %v", page, err)
				}
				if total != len(want) {
					t.Fatalf("page %d: total %d, want %d", page, total, len(want))
				}
				if len(jobs) > size || (next != "" && len(jobs) != size) {
					t.Fatalf("page %d has %d jobs (next %q); pages before the last hold exactly %d", page, len(jobs), next, size)
				}
				for _, j := range jobs {
					got = append(got, j.ID)
					if j.Deleted {
						t.Fatalf("page %d lists deleted job %s", page, j.ID)
					}
				}
				if next == "" {
					break
				}
				f.PageToken = next
			}
			if !slices.Equal(got, want) {
				t.Fatalf("paged ids (%d):\n%v\nwant (%d):\n%v", len(got), got, len(want), want)
			}
		})
	}

	t.Run("250 jobs, every one exactly once, in order", func(t *testing.T) {
		seen := map[string]int{}
		f := projections.JobFilter{Owner: "pager", PageSize: 7}
		var last uint64
		for {
			jobs, next, _, err := m.ListJobs(ctx(t), f)
			if err != nil {
				t.Fatal(err)
			}
			for _, j := range jobs {
				seen[j.ID]++
				if last != 0 && j.SubmittedPosition >= last {
					t.Fatalf("%s (position %d) after position %d: not newest first", j.ID, j.SubmittedPosition, last)
				}
				last = j.SubmittedPosition
			}
			if next == "" {
				break
			}
			f.PageToken = next
		}
		visible := 0
		for _, f := range facts {
			if f.owner == "pager" && !f.deleted {
				visible++
				if seen[f.id] != 1 {
					t.Errorf("%s listed %d times", f.id, seen[f.id])
				}
			}
		}
		if len(seen) != visible || visible != 225 {
			t.Fatalf("listed %d distinct jobs, %d visible (want 225 of 250)", len(seen), visible)
		}
	})
}

func testListJobsBadTokens(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	envs, _ := pagingHistory()
	apply(t, m, envs...)
	first := projections.JobFilter{Owner: "pager", PageSize: 3}
	_, token, _, err := m.ListJobs(ctx(t), first)
	if err != nil || token == "" {
		t.Fatalf("first page: next %q, err %v", token, err)
	}
	nodeToken := ""
	if page, err := m.ListNodes(ctx(t), projections.NodeListFilter{PageSize: 1, Now: T0}); err == nil {
		nodeToken = page.Next
	}
	tamper := func(s string, i int) string {
		b := []byte(s)
		if b[i] == 'A' {
			b[i] = 'B'
		} else {
			b[i] = 'A'
		}
		return string(b)
	}
	tests := []struct {
		name   string
		filter projections.JobFilter
	}{
		{"garbage", projections.JobFilter{Owner: "pager", PageToken: "!!not a token!!"}},
		{"short", projections.JobFilter{Owner: "pager", PageToken: "AAAA"}},
		{"truncated", projections.JobFilter{Owner: "pager", PageToken: token[:len(token)-3]}},
		{"one character changed", projections.JobFilter{Owner: "pager", PageToken: tamper(token, len(token)/2)}},
		{"another owner", projections.JobFilter{Owner: "other", PageToken: token}},
		{"another type", projections.JobFilter{Owner: "pager", Type: typ(domain.JobTypeTraining), PageToken: token}},
		{"another status", projections.JobFilter{Owner: "pager", Statuses: projections.InProgress, PageToken: token}},
		{"a node list's token", projections.JobFilter{Owner: "pager", PageToken: nodeToken}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.filter.PageToken == "" {
				t.Skip("no token to try")
			}
			jobs, next, _, err := m.ListJobs(ctx(t), tc.filter)
			if !errors.Is(err, projections.ErrBadPageToken) {
				t.Fatalf("ListJobs = %d jobs, next %q, err %v; want ErrBadPageToken", len(jobs), next, err)
			}
			if strings.Contains(err.Error(), tc.filter.PageToken) && len(tc.filter.PageToken) > 20 {
				t.Errorf("error repeats the token: %v", err)
			}
		})
	}
	t.Run("the same filter with another page size accepts it", func(t *testing.T) {
		f := first
		f.PageSize, f.PageToken = 10, token
		jobs, _, _, err := m.ListJobs(ctx(t), f)
		if err != nil || len(jobs) != 10 {
			t.Fatalf("ListJobs = %d jobs, err %v", len(jobs), err)
		}
	})
}

func testListJobsPageSize(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	h := NewHistory()
	var envs []projections.Envelope
	for i := range projections.MaxPageSize + 5 {
		envs = append(envs, h.Envelope(domain.JobSubmitted{JobID: fmt.Sprintf("j%04d", i), Owner: "o",
			Spec: JobSpec(domain.JobTypeTraining, domain.PriorityLow, domain.DeviceAny, 0), At: T0}))
	}
	apply(t, m, envs...)
	tests := []struct {
		size, want int
	}{
		{0, projections.DefaultPageSize},
		{-3, projections.DefaultPageSize},
		{1, 1},
		{projections.MaxPageSize + 100, projections.MaxPageSize},
	}
	for _, tc := range tests {
		jobs, next, total, err := m.ListJobs(ctx(t), projections.JobFilter{Owner: "o", PageSize: tc.size})
		if err != nil || len(jobs) != tc.want || next == "" || total != len(envs) {
			t.Errorf("page size %d: %d jobs, next %q, total %d, err %v; want %d jobs of %d", tc.size, len(jobs), next, total, err, tc.want, len(envs))
		}
	}
}
