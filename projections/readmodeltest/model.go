package readmodeltest

import (
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

func testCheckpoint(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	if c := m.Checkpoint(); c != 0 {
		t.Fatalf("a new model's checkpoint is %d, want 0", c)
	}
	envs := fleet()
	half := len(envs) / 2
	steps := []struct {
		name       string
		batch      []projections.Envelope
		checkpoint uint64
		want       uint64
	}{
		{"first half", envs[:half], envs[half-1].Position, envs[half-1].Position},
		{"second half", envs[half:], envs[len(envs)-1].Position, envs[len(envs)-1].Position},
		{"a batch below the checkpoint changes nothing", envs, envs[len(envs)-1].Position, envs[len(envs)-1].Position},
		{"a checkpoint past the last envelope (undecodable events)", nil, envs[len(envs)-1].Position + 5, envs[len(envs)-1].Position + 5},
	}
	for _, st := range steps {
		if err := m.Apply(ctx(t), st.batch, st.checkpoint); err != nil {
			t.Fatalf("%s: %v", st.name, err)
		}
		if c := m.Checkpoint(); c != st.want {
			t.Fatalf("%s: checkpoint %d, want %d", st.name, c, st.want)
		}
	}
	// Replaying the whole history again counted nothing twice.
	n1 := getNode(t, m, "n1")
	if n1.JobsCompleted != 2 || n1.ComputeMs != 3500 || len(n1.Reservations) != 1 {
		t.Fatalf("after a replayed batch n1 has %d jobs, %d ms, %d reservations; want 2, 3500, 1",
			n1.JobsCompleted, n1.ComputeMs, len(n1.Reservations))
	}
	pts, err := m.NodeMetrics(ctx(t), "n1", time.Time{}, time.Time{})
	if err != nil || len(pts) != 10 {
		t.Fatalf("after a replayed batch n1 has %d metric points (err %v), want 10", len(pts), err)
	}
}

// testBatchesAreAtomic applies batches of 10 submissions while readers
// check that they only ever see whole batches.
func testBatchesAreAtomic(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	h := NewHistory()
	const batches, per = 40, 10
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for r := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-done:
					return
				default:
				}
				var n int
				switch r % 4 {
				case 0:
					_, _, total, err := m.ListJobs(ctx(t), projections.JobFilter{Owner: "atomic", PageSize: 1})
					if err != nil {
						errs <- err
						return
					}
					n = total
				case 1:
					n = len(m.PendingJobs())
				case 2:
					s, err := m.NetworkStats(ctx(t), T0)
					if err != nil {
						errs <- err
						return
					}
					n = s.Hourly[len(s.Hourly)-1].Submitted
					if s.JobsTotal != n || s.JobsPending != n {
						errs <- fmt.Errorf("NetworkStats counts %d jobs, %d pending, %d submitted: not one batch", s.JobsTotal, s.JobsPending, n)
						return
					}
				default:
					lines, err := m.RecentActivity(ctx(t), projections.MaxPageSize, 0)
					if err != nil {
						errs <- err
						return
					}
					n = len(lines)
				}
				if n%per != 0 {
					errs <- fmt.Errorf("reader %d saw %d jobs: half a batch", r, n)
					return
				}
			}
		}()
	}
	for b := range batches {
		var envs []projections.Envelope
		for i := range per {
			envs = append(envs, h.Envelope(domain.JobSubmitted{JobID: fmt.Sprintf("a-%d-%d", b, i), Owner: "atomic",
				Spec: JobSpec(domain.JobTypeTraining, domain.PriorityNormal, domain.DeviceAny, 0), At: T0}))
		}
		apply(t, m, envs...)
	}
	close(done)
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if _, _, total, _ := m.ListJobs(ctx(t), projections.JobFilter{Owner: "atomic"}); total != batches*per {
		t.Fatalf("total %d, want %d", total, batches*per)
	}
}
