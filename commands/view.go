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
