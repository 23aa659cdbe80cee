package projections

import (
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
)

// Envelope is a decoded event with where and when the log recorded it.
type Envelope struct {
	Event    domain.Event
	Stream   string
	Revision uint64 // 0-based position within Stream
	Position uint64 // 1-based global position
	Recorded time.Time
	Metadata eventstore.Metadata
}

// JobIDOf returns the job whose view e changes.
func JobIDOf(e domain.Event) (string, bool) {
	switch e := e.(type) {
	case domain.JobSubmitted:
		return e.JobID, true
	case domain.JobAssigned:
		return e.JobID, true
	case domain.JobAccepted:
		return e.JobID, true
	case domain.JobRejected:
		return e.JobID, true
	case domain.JobStarted:
		return e.JobID, true
	case domain.JobProgressed:
		return e.JobID, true
	case domain.JobCompleted:
		return e.JobID, true
	case domain.JobFailed:
		return e.JobID, true
	case domain.JobCancelled:
		return e.JobID, true
	case domain.JobTimedOut:
		return e.JobID, true
	case domain.JobRequeued:
		return e.JobID, true
	case domain.JobDeleted:
		return e.JobID, true
	}
	return "", false
}

// NodeIDOf returns the node whose view e changes: the node's own events,
// and JobCompleted, which counts towards the node that ran the job.
func NodeIDOf(e domain.Event) (string, bool) {
	switch e := e.(type) {
	case domain.NodeRegistered:
		return e.NodeID, true
	case domain.NodeUpdated:
		return e.NodeID, true
	case domain.NodeWentOnline:
		return e.NodeID, true
	case domain.NodeWentOffline:
		return e.NodeID, true
	case domain.NodeMetricsSampled:
		return e.NodeID, true
	case domain.ReputationAdjusted:
		return e.NodeID, true
	case domain.NodeJobReserved:
		return e.NodeID, true
	case domain.NodeJobReleased:
		return e.NodeID, true
	case domain.NodeBanned:
		return e.NodeID, true
	case domain.NodeUnbanned:
		return e.NodeID, true
	case domain.NodeDeleted:
		return e.NodeID, true
	case domain.JobCompleted:
		return e.NodeID, e.NodeID != ""
	}
	return "", false
}
