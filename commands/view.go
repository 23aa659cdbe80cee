package commands

import "github.com/cyxwiz/central-server/domain"

// View is the read model as process managers see it: a possibly slightly
// stale snapshot. Decisions are always re-checked against the log by the
// handler, so staleness costs a refused attempt, never an invariant.
type View interface {
	PendingJobs() []domain.QueuedJob // in queue order (domain.QueueLess)
	Candidates() []domain.Candidate
	Assignments() []domain.Assignment
	Reservations() []domain.Reservation
	OnlineNodes() []string
}

// QueuePages is a View that hands out its queue a page at a time: a
// scheduling pass then reads as much of a long queue as it places, not all
// of it. The in-memory read model is one.
type QueuePages interface {
	// PendingJobsAfter returns up to n jobs of the queue that come after
	// after (from the head when first), in queue order.
	PendingJobsAfter(after domain.QueuedJob, first bool, n int) []domain.QueuedJob
}
