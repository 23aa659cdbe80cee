package projections

import (
	"maps"
	"strconv"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// JobView is a job as the read side shows it.
type JobView struct {
	ID         string
	Owner      string
	Spec       domain.JobSpec // InitialData is dropped
	Status     domain.JobStatus
	NodeID     string // current node; after a terminal event, the last one
	Accepted   bool
	AcceptedAt time.Time
	Progress   float64 // 0..1
	Epoch      int32
	Metrics    map[string]float64 // latest reported metrics of the current attempt
	Attempts   int                // assignments so far
	Requeues   int

	SubmittedAt time.Time
	AssignedAt  time.Time
	StartedAt   time.Time
	EndedAt     time.Time

	Reason  string            // why it failed, was cancelled or last requeued
	Result  *domain.JobResult // set once completed
	Deleted bool
	LastLog string // last log line a node reported

	// SubmittedPosition is the global position of JobSubmitted: job lists
	// are ordered by it, newest first.
	SubmittedPosition uint64
	Revision          uint64 // stream revision of the last event folded
	Position          uint64 // global position of the last event folded
}

// Active reports whether the job is on a node (assigned or running).
func (v *JobView) Active() bool {
	return v.Status == domain.JobStatusAssigned || v.Status == domain.JobStatusRunning
}

// Pending reports whether the job waits in the queue.
func (v *JobView) Pending() bool { return v.Status == domain.JobStatusPending && !v.Deleted }

// Clone returns a copy that shares nothing mutable with v.
func (v JobView) Clone() JobView {
	v.Spec.Hyperparameters = maps.Clone(v.Spec.Hyperparameters)
	v.Metrics = maps.Clone(v.Metrics)
	if v.Result != nil {
		r := *v.Result
		r.FinalMetrics = maps.Clone(r.FinalMetrics)
		v.Result = &r
	}
	return v
}

// QueuedJob returns the job as the scheduler's queue sees it.
func (v *JobView) QueuedJob() domain.QueuedJob {
	return domain.QueuedJob{
		JobID:       v.ID,
		Priority:    v.Spec.Priority,
		SubmittedAt: v.SubmittedAt,
		Req:         domain.Requirements{Device: v.Spec.RequiredDevice, Memory: v.Spec.EstimatedMemory},
	}
}

// Assignment returns the job as the dispatcher and timeouts see it.
func (v *JobView) Assignment() domain.Assignment {
	return domain.Assignment{
		JobID: v.ID, NodeID: v.NodeID, Owner: v.Owner, Status: v.Status, Accepted: v.Accepted,
		AssignedAt: v.AssignedAt, AcceptedAt: v.AcceptedAt, StartedAt: v.StartedAt,
	}
}

// ApplyJob folds one envelope into v. Events of other aggregates leave v
// unchanged. The fold never keeps a reference to a map of the event, and
// never changes a map or slice v holds in place (it replaces them), so
// copies of v taken earlier stay valid.
func ApplyJob(v *JobView, e Envelope) {
	switch ev := e.Event.(type) {
	case domain.JobSubmitted:
		spec := ev.Spec
		spec.InitialData = nil
		spec.Hyperparameters = maps.Clone(spec.Hyperparameters)
		*v = JobView{ID: ev.JobID, Owner: ev.Owner, Spec: spec, Status: domain.JobStatusPending,
			SubmittedAt: ev.At, SubmittedPosition: e.Position}
	case domain.JobAssigned:
		v.Status, v.NodeID, v.AssignedAt, v.Attempts = domain.JobStatusAssigned, ev.NodeID, ev.At, ev.Attempt
		v.Accepted, v.AcceptedAt, v.StartedAt = false, time.Time{}, time.Time{}
		v.Progress, v.Epoch, v.Metrics = 0, 0, nil
	case domain.JobAccepted:
		v.Accepted, v.AcceptedAt = true, ev.At
	case domain.JobRejected, domain.JobTimedOut:
		// The JobRequeued or JobFailed that follows changes the view.
	case domain.JobStarted:
		v.Status, v.StartedAt = domain.JobStatusRunning, ev.At
		if !v.Accepted {
			v.Accepted, v.AcceptedAt = true, ev.At
		}
	case domain.JobProgressed:
		v.Progress, v.Epoch = ev.Progress, ev.Epoch
		if len(ev.Metrics) > 0 {
			v.Metrics = maps.Clone(ev.Metrics)
		}
		if ev.Log != "" {
			v.LastLog = ev.Log
		}
	case domain.JobCompleted:
		r := ev.Result
		r.FinalMetrics = maps.Clone(r.FinalMetrics)
		v.Status, v.Result, v.Progress, v.EndedAt = domain.JobStatusCompleted, &r, 1, ev.At
	case domain.JobFailed:
		v.Status, v.Reason, v.EndedAt = domain.JobStatusFailed, ev.Reason, ev.At
	case domain.JobCancelled:
		v.Status, v.Reason, v.EndedAt = domain.JobStatusCancelled, ev.Reason, ev.At
	case domain.JobRequeued:
		v.Status, v.NodeID, v.Requeues, v.Reason = domain.JobStatusPending, "", ev.Requeues, ev.Reason
		v.Accepted, v.AcceptedAt, v.StartedAt = false, time.Time{}, time.Time{}
		v.Progress, v.Epoch, v.Metrics = 0, 0, nil
	case domain.JobDeleted:
		v.Deleted = true
	default:
		return
	}
	v.Revision, v.Position = e.Revision, e.Position
}

// JobUpdate is one step of a watched job: the view after the event, the
// event's log line and the live metrics it reported.
type JobUpdate struct {
	Job         JobView
	Event       string             // event name; "" for the snapshot a watch starts with
	Log         string             // the node's log line, or a description of the change
	LiveMetrics map[string]float64 // metrics of a JobProgressed; nil otherwise
}

// Terminal reports whether the update carries a finished job.
func (u JobUpdate) Terminal() bool { return u.Job.Status.Terminal() }

// UpdateFor builds the update a watcher of v's job receives for e, where v
// is the view after e.
func UpdateFor(v *JobView, e Envelope) JobUpdate {
	u := JobUpdate{Job: v.Clone(), Event: e.Event.EventName(), Log: Describe(e.Event)}
	if p, ok := e.Event.(domain.JobProgressed); ok {
		u.LiveMetrics = maps.Clone(p.Metrics)
	}
	return u
}

// Describe returns the log line of an event, for job watchers and the
// activity log: the node's own line for a progress report (possibly
// empty), else a short sentence a person can read.
func Describe(e domain.Event) string {
	switch e := e.(type) {
	case domain.JobSubmitted:
		return "job submitted"
	case domain.JobAssigned:
		return "assigned to node " + e.NodeID + " (attempt " + strconv.Itoa(e.Attempt) + ")"
	case domain.JobAccepted:
		return "node " + e.NodeID + " accepted the job"
	case domain.JobRejected:
		return "node " + e.NodeID + " rejected the job: " + e.Reason
	case domain.JobStarted:
		return "node " + e.NodeID + " started the job"
	case domain.JobProgressed:
		return e.Log
	case domain.JobCompleted:
		return "job completed"
	case domain.JobFailed:
		return "job failed: " + e.Reason
	case domain.JobCancelled:
		return because("job cancelled", e.Reason)
	case domain.JobTimedOut:
		return "node " + e.NodeID + " timed out (" + e.Phase + ")"
	case domain.JobRequeued:
		return "job requeued: " + e.Reason
	case domain.JobDeleted:
		return "job deleted"
	case domain.NodeRegistered:
		s := "node registered: " + e.Spec.Name
		if e.Spec.Region != "" {
			s += " in " + e.Spec.Region
		}
		return s
	case domain.NodeUpdated:
		return "node updated its registration"
	case domain.NodeWentOnline:
		return "node went online"
	case domain.NodeWentOffline:
		return because("node went offline", e.Reason)
	case domain.NodeMetricsSampled:
		return "node metrics sampled"
	case domain.ReputationAdjusted:
		return because("reputation "+strconv.FormatFloat(e.Score, 'f', 2, 64)+
			" ("+signed(e.Delta)+")", e.Reason)
	case domain.NodeJobReserved:
		return "slot reserved for job " + e.JobID
	case domain.NodeJobReleased:
		return because("slot of job "+e.JobID+" released", e.Reason)
	case domain.NodeBanned:
		return because(by("node banned", e.By), e.Reason)
	case domain.NodeUnbanned:
		return by("node unbanned", e.By)
	case domain.NodeDeleted:
		return because(by("node deleted", e.By), e.Reason)
	}
	if s, ok := describePayment(e); ok {
		return s
	}
	return ""
}

// signed formats a reputation change with its sign: +0.01, -0.02.
func signed(d float64) string {
	s := strconv.FormatFloat(d, 'f', 2, 64)
	if s[0] != '-' {
		s = "+" + s
	}
	return s
}

func because(s, reason string) string {
	if reason == "" {
		return s
	}
	return s + ": " + reason
}

func by(s, who string) string {
	if who == "" {
		return s
	}
	return s + " by " + who
}
