package commands_test

import (
	"errors"
	"testing"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
)

// TestAssignJobsBatch: one batch for one node takes what fits, refuses the
// rest with the reason, and records one reservation append for them all.
func TestAssignJobsBatch(t *testing.T) {
	for _, kind := range bothKinds {
		t.Run(kind.name, func(t *testing.T) {
			x := newHarness(t, kind, func(p *commands.Policy) { p.MaxJobsPerNode = 3 })
			node := x.registerNode(0, true)
			jobs := x.submitMany(5, "alice")
			taken := x.submit("alice")
			other := x.registerNode(1, true)
			x.assign(taken, other)
			before := len(x.nodeEvents(node))

			batch := []commands.Placement{{JobID: taken, Score: 1}}
			for _, j := range jobs {
				batch = append(batch, commands.Placement{JobID: j, Score: 2})
			}
			out := x.h.AssignJobs(x.ctx, node, batch)
			if !errors.Is(out[0].Err, domain.ErrFailedPrecondition) {
				t.Errorf("a job assigned elsewhere: %v, want FailedPrecondition", out[0].Err)
			}
			ok, full := 0, 0
			for i, res := range out[1:] {
				switch {
				case res.Err == nil:
					ok++
					if res.Job.Node() != node || res.Position == 0 {
						t.Errorf("job %d: %+v", i, res)
					}
				case errors.Is(res.Err, domain.ErrResourceExhausted):
					full++
				default:
					t.Errorf("job %d: unexpected %v", i, res.Err)
				}
			}
			if ok != 3 || full != 2 {
				t.Fatalf("%d assigned, %d refused as full; want 3 and 2", ok, full)
			}
			if got := len(x.node(node).ActiveJobs()); got != 3 {
				t.Fatalf("node holds %d jobs, want 3", got)
			}
			if added := x.nodeEvents(node)[before:]; len(added) != 3 {
				t.Fatalf("%d node events for the batch, want the 3 reservations", len(added))
			}
		})
	}
}
