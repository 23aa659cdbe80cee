package projections

import "github.com/cyxwiz/central-server/domain"

// ActivityOf returns the activity line of e, shared by every read model.
// ok is false for the events the activity log leaves out, the periodic
// telemetry that would bury everything else (see InActivity):
//
//   - NodeMetricsSampled: a node's load, every sampling interval; read it
//     with NodeQueries.NodeMetrics.
//   - JobProgressed: a running job's progress reports, several a minute;
//     read them with JobWatcher.WatchJob or the job's view.
//
// Every other event is an action and gets a line. At is the recorded
// time (UTC), Summary is Describe(e.Event), Actor is the metadata's.
// JobID and NodeID name what the event is about: the job and node whose
// views it changes (JobIDOf, NodeIDOf), and besides the node a job event
// names (JobAssigned's, JobRequeued's previous node, …) and the job a node
// event names (NodeJobReserved's, ReputationAdjusted's, …), so an operator
// can follow one node or one job through the log.
func ActivityOf(e Envelope) (a Activity, ok bool) {
	if !InActivity(e.Event) {
		return Activity{}, false
	}
	job, node := subjectsOf(e.Event)
	return Activity{
		Position: e.Position,
		At:       e.Recorded.UTC(),
		Event:    e.Event.EventName(),
		Stream:   e.Stream,
		JobID:    job,
		NodeID:   node,
		Actor:    e.Metadata.Actor,
		Summary:  Describe(e.Event),
	}, true
}

// InActivity reports whether e gets a line in the activity log: every
// event but NodeMetricsSampled and JobProgressed (see ActivityOf).
func InActivity(e domain.Event) bool {
	switch e.(type) {
	case domain.NodeMetricsSampled, domain.JobProgressed, nil:
		return false
	}
	return true
}

// subjectsOf returns the job and the node e is about; "" for none.
func subjectsOf(e domain.Event) (jobID, nodeID string) {
	jobID, _ = JobIDOf(e)
	nodeID, _ = NodeIDOf(e)
	switch e := e.(type) {
	case domain.JobAssigned:
		nodeID = e.NodeID
	case domain.JobAccepted:
		nodeID = e.NodeID
	case domain.JobRejected:
		nodeID = e.NodeID
	case domain.JobStarted:
		nodeID = e.NodeID
	case domain.JobProgressed:
		nodeID = e.NodeID
	case domain.JobFailed:
		nodeID = e.NodeID
	case domain.JobCancelled:
		nodeID = e.NodeID
	case domain.JobTimedOut:
		nodeID = e.NodeID
	case domain.JobRequeued:
		nodeID = e.PreviousNode
	case domain.NodeJobReserved:
		jobID = e.JobID
	case domain.NodeJobReleased:
		jobID = e.JobID
	case domain.ReputationAdjusted:
		jobID = e.JobID
	case domain.DepositClaimed:
		jobID = e.JobID
	case domain.PaymentReleaseSubmitted:
		jobID, nodeID = e.JobID, e.NodeID
	}
	if id, ok := PaymentJobOf(e); ok {
		jobID = id
	}
	return jobID, nodeID
}
