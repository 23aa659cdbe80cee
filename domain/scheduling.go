package domain

import "time"

// QueuedJob is a pending job as the scheduler sees it.
type QueuedJob struct {
	JobID       string
	Priority    Priority
	SubmittedAt time.Time
	Req         Requirements
}

// Assignment is a job currently on a node (assigned or running), as the
// dispatcher and the timeouts see it.
type Assignment struct {
	JobID      string
	NodeID     string
	Owner      string
	Status     JobStatus
	Accepted   bool
	AssignedAt time.Time
	AcceptedAt time.Time // zero until accepted
	StartedAt  time.Time // zero until started
}

// Reservation is a job slot a node holds.
type Reservation struct {
	NodeID string
	JobID  string
	At     time.Time
}
