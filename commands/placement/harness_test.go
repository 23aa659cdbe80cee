package placement

import (
	"math/rand/v2"
	"testing"

	"github.com/cyxwiz/central-server/domain"
)

// TestHarness runs the real placement over a realistic snapshot and a
// mixed queue that outgrows the fleet, the way a scheduling pass does, and
// checks the invariants after every placement and at the end.
func TestHarness(t *testing.T) {
	for _, tt := range []struct {
		name  string
		seed  uint64
		nodes int
		jobs  int
		limit int
	}{
		{"300 nodes, default limit", 1, 300, 1000, 0},
		{"300 nodes, scored completely", 2, 300, 1000, -1},
		{"500 nodes, limit 4", 3, 500, 5000, 4},
		{"50 nodes, small fleet", 4, 50, 200, 0},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(tt.seed, 99))
			snap := snapshot(rng, tt.nodes, policy)
			q := queue(rng, tt.jobs)
			q.Sort()

			f := NewFleet(snap)
			f.SetLimit(tt.limit)
			exhaustive := tt.limit < 0 || tt.nodes <= DefaultLimit && tt.limit == 0
			placedOn := make([]int, f.Len())
			failed := make([]bool, len(q))
			var placedByPrio, jobsByPrio [4]int
			for k, j := range q {
				jobsByPrio[j.Priority]++
				ref, feasible := best(f, j.Req, policy)
				got, err := f.Place(j.Req, policy, rng)
				if err != nil {
					np := asNoPlacement(t, err)
					if feasible {
						t.Fatalf("job %d %+v: no placement but a node is feasible: %v", k, j.Req, err)
					}
					if np.Stats.Filtered.Total() != f.Len() || np.Req != j.Req {
						t.Fatalf("job %d: explanation %+v", k, np)
					}
					failed[k] = true
					continue
				}
				c := f.Node(got.Index)
				if why := domain.Feasible(j.Req, &c, policy); why != "" {
					t.Fatalf("job %d %+v placed on infeasible node %s: %s", k, j.Req, c.NodeID, why)
				}
				if got.NodeID != c.NodeID || got.Score != domain.Score(j.Req, &c) || got.Score > ref {
					t.Fatalf("job %d: placement %+v disagrees with node %+v (best %.2f)", k, got, c, ref)
				}
				if exhaustive && got.Score != ref {
					t.Fatalf("job %d: score %.2f, best %.2f on a fully scored fleet", k, got.Score, ref)
				}
				if lim := f.limit; got.Stats.Scored > lim {
					t.Fatalf("job %d: scored %d > limit %d", k, got.Stats.Scored, lim)
				}
				f.Take(got.Index)
				placedOn[got.Index]++
				placedByPrio[j.Priority]++
			}

			placed := 0
			for i, n := range placedOn {
				c := f.Node(i)
				placed += n
				if c.ActiveJobs != snap[i].ActiveJobs+n {
					t.Fatalf("node %d: %d active, %d before + %d placed", i, c.ActiveJobs, snap[i].ActiveJobs, n)
				}
				if n > 0 && c.ActiveJobs > policy.MaxJobsPerNode {
					t.Fatalf("node %s over capacity: %d", c.NodeID, c.ActiveJobs)
				}
				if n > 0 && (!c.Online || c.Banned || c.Reputation < policy.MinReputation) {
					t.Fatalf("node %s got %d jobs: %+v", c.NodeID, n, c)
				}
			}
			if placed == 0 || placed == len(q) {
				t.Fatalf("placed %d of %d: capacity should run out", placed, len(q))
			}

			// Capacity only shrinks within a pass, so once a job found no
			// node, every later job needing the same device and at least as
			// much memory finds none either: the queue order decides who
			// gets the capacity, and higher priorities come first.
			for k := range q {
				if !failed[k] {
					continue
				}
				for l := k + 1; l < len(q); l++ {
					if !failed[l] && q[l].Req.Device == q[k].Req.Device && q[l].Req.Memory >= q[k].Req.Memory {
						t.Fatalf("job %d (%v, %+v) placed after job %d (%v, %+v) found no node",
							l, q[l].Priority, q[l].Req, k, q[k].Priority, q[k].Req)
					}
				}
			}
			share := func(p domain.Priority) float64 { return float64(placedByPrio[p]) / float64(jobsByPrio[p]) }
			for p := domain.PriorityLow; p < domain.PriorityCritical; p++ {
				if share(p) > share(p+1) {
					t.Errorf("%v jobs placed %.0f%%, more than %v jobs %.0f%%", p, 100*share(p), p+1, 100*share(p+1))
				}
			}
			t.Logf("placed %d of %d jobs on %d nodes; by priority low→critical: %.0f%% %.0f%% %.0f%% %.0f%%",
				placed, len(q), tt.nodes, 100*share(0), 100*share(1), 100*share(2), 100*share(3))
		})
	}
}
