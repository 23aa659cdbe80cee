package readmodeltest

import (
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// startedJob returns the history of job j submitted, assigned to n1 and
// started.
func startedJob(h *History, j string) []projections.Envelope {
	envs := registerNodes(h, "n1")
	return append(envs, h.Envelopes(
		domain.JobSubmitted{JobID: j, Owner: "w", Spec: JobSpec(domain.JobTypeTraining, domain.PriorityNormal, domain.DeviceCUDA, GiB), At: T0},
		domain.NodeJobReserved{NodeID: "n1", JobID: j, At: T0},
		domain.JobAssigned{JobID: j, NodeID: "n1", Attempt: 1, At: T0},
		domain.JobStarted{JobID: j, NodeID: "n1", At: T0},
	)...)
}

func progress(j string, i int) domain.Event {
	return domain.JobProgressed{JobID: j, NodeID: "n1", Progress: float64(i) / 1000, Epoch: int32(i),
		Metrics: map[string]float64{"step": float64(i)}, At: At(time.Duration(i) * time.Second)}
}

func completed(j string) domain.Event {
	return domain.JobCompleted{JobID: j, NodeID: "n1", Result: domain.JobResult{ComputeTimeMs: 1}, At: At(time.Hour)}
}

func testWatchSlowReader(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	h := NewHistory()
	apply(t, m, startedJob(h, "j")...)
	updates, cancel := m.WatchJob("j")
	defer cancel()
	first := recv(t, updates) // the current view
	if first.Event != "" || first.Job.Status != domain.JobStatusRunning || first.Job.ID != "j" {
		t.Fatalf("first update = %s %+v; want the current view", first.Event, first.Job)
	}
	// 300 reports nobody reads, in batches of every size: Apply never waits
	// for the watcher.
	var envs []projections.Envelope
	for i := range 300 {
		envs = append(envs, h.Envelope(progress("j", i+1)))
	}
	applyInBatches(t, m, envs)
	end := h.Envelope(completed("j"))
	apply(t, m, end)

	got := drain(t, updates)
	if len(got) == 0 || len(got) > 301 {
		t.Fatalf("got %d updates after the snapshot; want 1..301", len(got))
	}
	for i := 1; i < len(got); i++ {
		if got[i].Job.Position <= got[i-1].Job.Position {
			t.Fatalf("update %d at %d after %d: out of order or repeated", i, got[i].Job.Position, got[i-1].Job.Position)
		}
	}
	last := got[len(got)-1]
	if last.Event != "JobCompleted" || last.Job.Status != domain.JobStatusCompleted || last.Job.Position != end.Position {
		t.Fatalf("last update = %s, status %s at %d; want JobCompleted at %d", last.Event, last.Job.Status, last.Job.Position, end.Position)
	}
	if len(got) > 1 {
		if p := got[len(got)-2]; p.Event == "JobProgressed" && p.LiveMetrics["step"] != float64(p.Job.Epoch) {
			t.Errorf("progress update carries metrics %v for epoch %d", p.LiveMetrics, p.Job.Epoch)
		}
	}
}

func testWatchCancel(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	h := NewHistory()
	apply(t, m, startedJob(h, "j")...)
	updates, cancel := m.WatchJob("j")
	recv(t, updates)
	apply(t, m, h.Envelope(progress("j", 1)))
	if u := recv(t, updates); u.Event != "JobProgressed" || u.Job.Progress != 0.001 {
		t.Fatalf("update = %s progress %v", u.Event, u.Job.Progress)
	}
	expectNothing(t, updates)
	cancel()
	drain(t, updates) // closed
	cancel()          // twice: harmless
	apply(t, m, h.Envelope(progress("j", 2)), h.Envelope(completed("j")))
	if v := getJob(t, m, "j"); v.Status != domain.JobStatusCompleted {
		t.Fatalf("status %s after cancelled watch", v.Status)
	}
}

func testWatchFinishedJob(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	h := NewHistory()
	apply(t, m, startedJob(h, "j")...)
	apply(t, m, h.Envelope(completed("j")))

	updates, cancel := m.WatchJob("j")
	defer cancel()
	got := drain(t, updates)
	if len(got) != 1 || got[0].Job.Status != domain.JobStatusCompleted || !got[0].Terminal() {
		t.Fatalf("watching a finished job gave %d updates %+v; want its final view, then the end", len(got), got)
	}

	apply(t, m, h.Envelope(domain.JobDeleted{JobID: "j", By: "w", At: At(2 * time.Hour)}))
	deleted, cancel2 := m.WatchJob("j")
	defer cancel2()
	for _, u := range drain(t, deleted) {
		if u.Job.Deleted {
			t.Fatalf("watching a deleted job shows it: %+v", u.Job)
		}
	}
}

func testWatchManyWatchers(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	h := NewHistory()
	apply(t, m, startedJob(h, "j")...)
	var chans []<-chan projections.JobUpdate
	for range 3 {
		c, cancel := m.WatchJob("j")
		defer cancel()
		recv(t, c)
		chans = append(chans, c)
	}
	unrelated, cancel := m.WatchJob("not-yet")
	defer cancel()
	envs := []projections.Envelope{h.Envelope(progress("j", 1)), h.Envelope(progress("j", 2)), h.Envelope(completed("j"))}
	apply(t, m, envs...)
	for i, c := range chans {
		got := drain(t, c)
		if len(got) != len(envs) {
			t.Fatalf("watcher %d got %d updates, want %d", i, len(got), len(envs))
		}
		for k, u := range got {
			if u.Job.Position != envs[k].Position {
				t.Errorf("watcher %d update %d at %d, want %d", i, k, u.Job.Position, envs[k].Position)
			}
		}
	}
	expectNothing(t, unrelated)
	// A watch of a job that does not exist yet starts with its submission.
	h2 := NewHistory()
	h2.Skip(h.Position())
	apply(t, m, h2.Envelopes(
		domain.JobSubmitted{JobID: "not-yet", Owner: "w", Spec: JobSpec(domain.JobTypeTraining, domain.PriorityLow, domain.DeviceAny, 0), At: T0},
		domain.JobCancelled{JobID: "not-yet", By: "w", At: T0})...)
	got := drain(t, unrelated)
	if len(got) != 2 || got[0].Event != "JobSubmitted" || got[1].Job.Status != domain.JobStatusCancelled {
		t.Fatalf("late job: %d updates %+v", len(got), got)
	}
}
