package postgres

import (
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// TestSecondWriterWatchers: two models share one schema (two replicas);
// one applies the log first, so the other finds every batch already
// applied — yet a job's watchers on either see the same updates, each
// event's, in order, whichever model wrote the rows.
func TestSecondWriterWatchers(t *testing.T) {
	envs := readmodeltest.Realistic(2_000, 8, 3)
	// Watch the jobs with the most events in the log's second half.
	half := len(envs) / 2
	count := map[string]int{}
	for _, e := range envs[half:] {
		if id, ok := projections.JobIDOf(e.Event); ok {
			count[id]++
		}
	}
	var jobs []string
	for id := range count {
		jobs = append(jobs, id)
	}
	slices.SortFunc(jobs, func(a, b string) int { return count[b] - count[a] })
	jobs = jobs[:min(5, len(jobs))]

	schema := freshSchema(t)
	a, b := openModel(t, schema, Options{}), openModel(t, schema, Options{})
	applyBatches(t, a, envs[:half], 100)
	applyBatches(t, b, envs[:half], 100)
	type seen struct {
		event  string
		status string
		pos    uint64
	}
	collect := func(c <-chan projections.JobUpdate) func() []seen {
		var out []seen
		done := make(chan struct{})
		go func() {
			defer close(done)
			for u := range c {
				out = append(out, seen{u.Event, u.Job.Status.String(), u.Job.Position})
			}
		}()
		return func() []seen {
			select {
			case <-done:
			case <-time.After(10 * time.Second):
				t.Fatal("watch not closed")
			}
			return out
		}
	}
	var fromA, fromB []func() []seen
	var stops []func()
	for _, id := range jobs {
		ca, stopA := a.WatchJob(id)
		cb, stopB := b.WatchJob(id)
		t.Cleanup(stopA)
		t.Cleanup(stopB)
		stops = append(stops, stopA, stopB)
		fromA, fromB = append(fromA, collect(ca)), append(fromB, collect(cb))
	}
	applyBatches(t, a, envs[half:], 64) // a writes every row
	applyBatches(t, b, envs[half:], 50) // b finds them written
	if a.Checkpoint() != b.Checkpoint() {
		t.Fatalf("checkpoints %d and %d", a.Checkpoint(), b.Checkpoint())
	}
	for _, stop := range stops {
		stop() // a watch a terminal update ended is closed already
	}
	for i, id := range jobs {
		ua, ub := fromA[i](), fromB[i]()
		if len(ua) < 2 {
			t.Fatalf("job %s: %d updates from the writer: %v", id, len(ua), ua)
		}
		if fmt.Sprint(ua) != fmt.Sprint(ub) {
			t.Errorf("job %s:\n writer's watcher: %v\n other's watcher:  %v", id, ua, ub)
		}
	}
}
