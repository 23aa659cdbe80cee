package commands_test

import (
	"log/slog"
	"testing"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
)

// TestTwoInstancesShareOneLog: two handlers (two server instances, each
// with its own cache of folded aggregates) on one log never act on a stale
// fold: each sees the other's writes, and capacity still holds.
func TestTwoInstancesShareOneLog(t *testing.T) {
	for _, kind := range bothKinds {
		t.Run(kind.name, func(t *testing.T) {
			x := newHarness(t, kind, func(p *commands.Policy) { p.MaxJobsPerNode = 2 })
			other := commands.NewHandler(x.store, commands.NewCodec(), x.clock.Now, x.policy, slog.New(slog.DiscardHandler))
			node := x.registerNode(0, true)
			jobs := []string{x.submit("alice"), x.submit("alice"), x.submit("alice")}

			// Warm both caches, then write through one and read through the other.
			if _, err := other.LoadNode(x.ctx, node); err != nil {
				t.Fatal(err)
			}
			x.assign(jobs[0], node)
			if n, err := other.LoadNode(x.ctx, node); err != nil || !n.Holds(jobs[0]) {
				t.Fatalf("the other instance does not see the reservation: %v, %v", n.ActiveJobs(), err)
			}
			if _, _, err := other.AssignJob(x.ctx, jobs[1], node, 1); err != nil {
				t.Fatal(err)
			}
			if _, _, err := x.h.AssignJob(x.ctx, jobs[2], node, 1); err == nil {
				t.Fatal("the first instance overfilled the node from a stale cache")
			}
			if got := x.node(node).ActiveJobs(); len(got) != 2 {
				t.Fatalf("node holds %v, want 2 jobs", got)
			}
			// A change made through one is the starting point of the other.
			if _, _, err := other.CancelJob(x.ctx, jobs[0], "alice", "no"); err != nil {
				t.Fatal(err)
			}
			if j, err := x.h.LoadJob(x.ctx, jobs[0]); err != nil || j.Status() != domain.JobStatusCancelled {
				t.Fatalf("first instance sees %v, %v", j.Status(), err)
			}
			if _, _, err := x.h.AssignJob(x.ctx, jobs[2], node, 1); err != nil {
				t.Fatalf("the freed slot is not seen: %v", err)
			}
		})
	}
}

// TestLoadedAggregatesAreCopies: what a load returns can be changed by the
// caller without touching the cache.
func TestLoadedAggregatesAreCopies(t *testing.T) {
	x := newHarness(t, memoryKind, nil)
	job := x.submit("alice")
	a, err := x.h.LoadJob(x.ctx, job)
	if err != nil {
		t.Fatal(err)
	}
	a.Apply(domain.JobCancelled{JobID: job, By: "alice"})
	b, err := x.h.LoadJob(x.ctx, job)
	if err != nil || b.Status() != domain.JobStatusPending || b.Version() != 1 {
		t.Fatalf("a caller's change leaked into the cache: %v v%d, %v", b.Status(), b.Version(), err)
	}
}
