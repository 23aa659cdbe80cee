package commands

import (
	"slices"
	"sync"

	"github.com/cyxwiz/central-server/domain"
)

// Departures remembers, for each job still in play, the nodes it was
// requeued from (the node rejected it, timed out, went offline or could
// not be reached), so the scheduler places it elsewhere when it can. It is
// fed the log's events in order (Observe) and forgets a job when the job
// ends. Safe for concurrent use.
//
// A node that refused a job again after its owner had already cost the job
// a retry (an uncounted requeue, see domain.Job.Reject) is barred: the job
// never goes back to it, not even as a last resort, so a refusing owner
// cannot keep a job cycling between assignment and refusal.
type Departures struct {
	mu     sync.Mutex
	left   map[string][]string // job id → nodes, oldest first
	barred map[string][]string // job id → nodes it must not go back to
}

// NewDepartures returns an empty memory.
func NewDepartures() *Departures {
	return &Departures{left: map[string][]string{}, barred: map[string][]string{}}
}

// Observe takes one event of the log.
func (d *Departures) Observe(event any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	switch e := event.(type) {
	case domain.JobRequeued:
		if e.PreviousNode != "" && !slices.Contains(d.left[e.JobID], e.PreviousNode) {
			d.left[e.JobID] = append(d.left[e.JobID], e.PreviousNode)
		}
		if e.Uncounted && e.PreviousNode != "" && !slices.Contains(d.barred[e.JobID], e.PreviousNode) {
			d.barred[e.JobID] = append(d.barred[e.JobID], e.PreviousNode)
		}
	case domain.JobCompleted:
		d.forget(e.JobID)
	case domain.JobFailed:
		d.forget(e.JobID)
	case domain.JobCancelled:
		d.forget(e.JobID)
	case domain.JobDeleted:
		d.forget(e.JobID)
	}
}

func (d *Departures) forget(jobID string) {
	delete(d.left, jobID)
	delete(d.barred, jobID)
}

// Barred reports whether job must not go back to node.
func (d *Departures) Barred(jobID, nodeID string) bool {
	if d == nil {
		return false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Contains(d.barred[jobID], nodeID)
}

// Nodes returns the nodes job was requeued from (nil when none).
func (d *Departures) Nodes(jobID string) []string {
	if d == nil {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.left[jobID])
}

// Len is how many jobs it remembers.
func (d *Departures) Len() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.left)
}

// Snapshot returns what it remembers, to be saved with the read model at
// the same log position.
func (d *Departures) Snapshot() map[string][]string {
	d.mu.Lock()
	defer d.mu.Unlock()
	out := make(map[string][]string, len(d.left))
	for job, nodes := range d.left {
		out[job] = slices.Clone(nodes)
	}
	return out
}

// Restore replaces what it remembers with a Snapshot's.
func (d *Departures) Restore(left map[string][]string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.left = make(map[string][]string, len(left))
	for job, nodes := range left {
		d.left[job] = slices.Clone(nodes)
	}
}
