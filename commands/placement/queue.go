package placement

import (
	"slices"

	"github.com/cyxwiz/central-server/domain"
)

// Queued describes a job for the queue.
func Queued(j *domain.Job) domain.QueuedJob {
	s := j.Spec()
	return domain.QueuedJob{
		JobID:       j.ID(),
		Priority:    s.Priority,
		SubmittedAt: j.SubmittedAt(),
		Req:         domain.Requirements{Device: s.RequiredDevice, Memory: s.EstimatedMemory},
	}
}

// Queue is the pending jobs of a pass.
type Queue []domain.QueuedJob

// Sort orders the queue by domain.QueueLess: higher priority first, then
// older first, then by job id.
func (q Queue) Sort() { slices.SortFunc(q, compareQueued) }

func compareQueued(a, b domain.QueuedJob) int {
	switch {
	case domain.QueueLess(a.Priority, a.SubmittedAt, a.JobID, b.Priority, b.SubmittedAt, b.JobID):
		return -1
	case domain.QueueLess(b.Priority, b.SubmittedAt, b.JobID, a.Priority, a.SubmittedAt, a.JobID):
		return 1
	}
	return 0
}
