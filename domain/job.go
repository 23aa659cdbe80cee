package domain

import (
	"maps"
	"math"
	"slices"
	"time"
)

// JobStatus is where a job is in its life.
//
//	pending → assigned → running → completed | failed | cancelled
//	assigned, running → pending (requeue)
type JobStatus int

const (
	JobStatusPending JobStatus = iota
	JobStatusAssigned
	JobStatusRunning
	JobStatusCompleted
	JobStatusFailed
	JobStatusCancelled
)

func (s JobStatus) String() string {
	switch s {
	case JobStatusAssigned:
		return "assigned"
	case JobStatusRunning:
		return "running"
	case JobStatusCompleted:
		return "completed"
	case JobStatusFailed:
		return "failed"
	case JobStatusCancelled:
		return "cancelled"
	default:
		return "pending"
	}
}

// Terminal reports whether no event may change the job any more.
func (s JobStatus) Terminal() bool {
	return s == JobStatusCompleted || s == JobStatusFailed || s == JobStatusCancelled
}

// Job is the job aggregate, rebuilt from its stream.
type Job struct {
	id          string
	owner       string
	spec        JobSpec
	status      JobStatus
	node        string
	accepted    bool
	attempts    int
	requeues    int
	refusers    []string // owners whose refusal cost the job a retry
	progress    float64
	epoch       int32
	metrics     map[string]float64
	lastLog     string
	submittedAt time.Time
	assignedAt  time.Time
	startedAt   time.Time
	endedAt     time.Time
	result      *JobResult
	reason      string
	deleted     bool
	version     int // number of events folded
}

// ID returns the job id ("" before JobSubmitted).
func (j *Job) ID() string                  { return j.id }
func (j *Job) Owner() string               { return j.owner }
func (j *Job) Spec() JobSpec               { return j.spec.clone() }
func (j *Job) Status() JobStatus           { return j.status }
func (j *Job) Node() string                { return j.node }
func (j *Job) Accepted() bool              { return j.accepted }
func (j *Job) Attempts() int               { return j.attempts }
func (j *Job) Requeues() int               { return j.requeues }
func (j *Job) Progress() float64           { return j.progress }
func (j *Job) Epoch() int32                { return j.epoch }
func (j *Job) Metrics() map[string]float64 { return maps.Clone(j.metrics) }
func (j *Job) SubmittedAt() time.Time      { return j.submittedAt }
func (j *Job) AssignedAt() time.Time       { return j.assignedAt }
func (j *Job) StartedAt() time.Time        { return j.startedAt }
func (j *Job) EndedAt() time.Time          { return j.endedAt }
func (j *Job) Result() *JobResult {
	if j.result == nil {
		return nil
	}
	r := *j.result
	r.FinalMetrics = maps.Clone(r.FinalMetrics)
	return &r
}
func (j *Job) Reason() string { return j.reason }
func (j *Job) Deleted() bool  { return j.deleted }

// Clone returns a deep copy, for caches of folded aggregates.
func (j *Job) Clone() *Job {
	c := *j
	c.spec = j.spec.clone()
	c.metrics = maps.Clone(j.metrics)
	c.refusers = slices.Clone(j.refusers)
	if j.result != nil {
		c.result = j.Result()
	}
	return &c
}

// Exists reports whether the job was submitted.
func (j *Job) Exists() bool { return j.id != "" }

// Version is the number of events folded; the stream's last revision is Version()-1.
func (j *Job) Version() int { return j.version }

// Apply folds one event into the job.
func (j *Job) Apply(e Event) {
	j.version++
	switch e := e.(type) {
	case JobSubmitted:
		j.id, j.owner, j.spec, j.submittedAt = e.JobID, e.Owner, e.Spec.clone(), e.At
		j.status = JobStatusPending
	case JobAssigned:
		j.status, j.node, j.accepted, j.assignedAt, j.reason = JobStatusAssigned, e.NodeID, false, e.At, ""
		j.attempts = e.Attempt
		j.progress, j.epoch, j.metrics = 0, 0, nil
	case JobAccepted:
		j.accepted = true
	case JobRejected, JobTimedOut:
	case JobStarted:
		j.status, j.accepted, j.startedAt = JobStatusRunning, true, e.At
	case JobProgressed:
		j.progress, j.epoch = e.Progress, e.Epoch
		if e.Log != "" {
			j.lastLog = e.Log
		}
		if len(e.Metrics) > 0 {
			j.metrics = maps.Clone(e.Metrics)
		}
	case JobCompleted:
		r := e.Result
		r.FinalMetrics = maps.Clone(r.FinalMetrics)
		j.status, j.result, j.progress, j.endedAt = JobStatusCompleted, &r, 1, e.At
	case JobFailed:
		j.status, j.reason, j.endedAt = JobStatusFailed, e.Reason, e.At
	case JobCancelled:
		j.status, j.reason, j.endedAt = JobStatusCancelled, e.Reason, e.At
	case JobRequeued:
		j.status, j.node, j.accepted, j.requeues, j.reason = JobStatusPending, "", false, e.Requeues, e.Reason
		if e.Owner != "" && !e.Uncounted {
			j.refusers = append(j.refusers, e.Owner)
		}
		j.progress, j.epoch, j.metrics, j.lastLog = 0, 0, nil, ""
		j.assignedAt, j.startedAt = time.Time{}, time.Time{}
	case JobDeleted:
		j.deleted = true
	}
}

// SubmitJob validates a submission and returns the JobSubmitted that opens
// the job's stream. The job must not exist yet (checked by the caller's
// expected revision).
func SubmitJob(jobID, owner string, spec JobSpec, limits Limits, now time.Time) (JobSubmitted, error) {
	if jobID == "" {
		return JobSubmitted{}, invalid("job_id is required")
	}
	if owner == "" {
		return JobSubmitted{}, invalid("a job needs an owner")
	}
	if err := spec.Validate(limits); err != nil {
		return JobSubmitted{}, err
	}
	return JobSubmitted{JobID: jobID, Owner: owner, Spec: spec, At: now}, nil
}

func (s JobSpec) clone() JobSpec {
	s.Hyperparameters = maps.Clone(s.Hyperparameters)
	s.InitialData = slices.Clone(s.InitialData)
	return s
}

// Validate checks every field of a spec.
func (s JobSpec) Validate(l Limits) error {
	switch {
	case !s.Type.Valid():
		return invalid("job_type %d is not a known job type", s.Type)
	case !s.Priority.Valid():
		return invalid("priority %d is not a known priority", s.Priority)
	case !s.RequiredDevice.Valid():
		return invalid("required_device %d is not a known device type", s.RequiredDevice)
	case s.BatchSize < 0:
		return invalid("batch_size must be ≥ 0, got %d", s.BatchSize)
	case s.Epochs < 0:
		return invalid("epochs must be ≥ 0, got %d", s.Epochs)
	case s.EstimatedMemory < 0:
		return invalid("estimated_memory must be ≥ 0 bytes, got %d", s.EstimatedMemory)
	case s.EstimatedDuration < 0:
		return invalid("estimated_duration must be ≥ 0 seconds, got %d", s.EstimatedDuration)
	case s.ReservationMinutes < 0:
		return invalid("reservation_duration_minutes must be ≥ 0, got %d", s.ReservationMinutes)
	case math.IsNaN(s.PaymentAmount) || math.IsInf(s.PaymentAmount, 0) || s.PaymentAmount < 0:
		return invalid("payment_amount must be a finite number ≥ 0, got %v", s.PaymentAmount)
	case len(s.InitialData) > l.MaxInitialDataBytes:
		return invalid("initial_data is %d bytes; the limit is %d", len(s.InitialData), l.MaxInitialDataBytes)
	case len(s.Hyperparameters) > l.MaxHyperparameters:
		return invalid("%d hyperparameters; the limit is %d", len(s.Hyperparameters), l.MaxHyperparameters)
	case l.MaxSpecBytes > 0 && s.SpecBytes() > l.MaxSpecBytes:
		return invalid("the job spec is %d bytes (initial data, strings and hyperparameters); the limit is %d", s.SpecBytes(), l.MaxSpecBytes)
	}
	for name, v := range map[string]string{
		"model_definition": s.ModelDefinition, "dataset_uri": s.DatasetURI,
		"payment_address": s.PaymentAddress, "escrow_tx_hash": s.EscrowTxHash,
	} {
		if len(v) > l.MaxStringBytes {
			return invalid("%s is %d bytes; the limit is %d", name, len(v), l.MaxStringBytes)
		}
	}
	for k, v := range s.Hyperparameters {
		if k == "" || len(k)+len(v) > l.MaxStringBytes {
			return invalid("hyperparameter %q: names must be non-empty and entries under %d bytes", k, l.MaxStringBytes)
		}
	}
	return nil
}

func (j *Job) mustExist() error {
	if !j.Exists() {
		return notFound("job does not exist")
	}
	return nil
}

func (j *Job) terminalErr() error {
	return precondition("job %s is %s; a finished job never changes", j.id, j.status)
}

// Assign places a pending job on a node.
func (j *Job) Assign(nodeID string, score float64, now time.Time) ([]Event, error) {
	if err := j.mustExist(); err != nil {
		return nil, err
	}
	if nodeID == "" {
		return nil, invalid("an assignment needs a node")
	}
	if math.IsNaN(score) || math.IsInf(score, 0) {
		return nil, invalid("assignment score must be finite, got %v", score)
	}
	if j.status != JobStatusPending {
		if j.status == JobStatusAssigned || j.status == JobStatusRunning {
			return nil, precondition("job %s is already assigned to node %s", j.id, j.node)
		}
		return nil, j.terminalErr()
	}
	return []Event{JobAssigned{JobID: j.id, NodeID: nodeID, Attempt: j.attempts + 1, Score: score, At: now}}, nil
}

// checkAssignee refuses reports from anyone but the assigned node.
func (j *Job) checkAssignee(nodeID string) error {
	if err := j.mustExist(); err != nil {
		return err
	}
	if j.node == "" || j.node != nodeID {
		return denied("node %s is not assigned job %s", nodeID, j.id)
	}
	return nil
}

// Accept records that the assigned node took the job. Accepting twice records nothing.
func (j *Job) Accept(nodeID string, now time.Time) ([]Event, error) {
	if j.status.Terminal() {
		return nil, j.terminalErr()
	}
	if err := j.checkAssignee(nodeID); err != nil {
		return nil, err
	}
	if j.accepted {
		return nil, nil
	}
	return []Event{JobAccepted{JobID: j.id, NodeID: nodeID, At: now}}, nil
}

// Start records that the node began work; idempotent.
func (j *Job) Start(nodeID string, now time.Time) ([]Event, error) {
	if j.status.Terminal() {
		return nil, j.terminalErr()
	}
	if err := j.checkAssignee(nodeID); err != nil {
		return nil, err
	}
	if j.status == JobStatusRunning {
		return nil, nil
	}
	return []Event{JobStarted{JobID: j.id, NodeID: nodeID, At: now}}, nil
}

// Progress is one progress report from a node.
type Progress struct {
	Fraction float64
	Epoch    int32
	Metrics  map[string]float64
	Log      string
}

// Validate checks the report's numbers.
func (p Progress) Validate() error {
	if math.IsNaN(p.Fraction) || p.Fraction < 0 || p.Fraction > 1 {
		return invalid("progress must be within 0..1, got %v", p.Fraction)
	}
	if p.Epoch < 0 {
		return invalid("current_epoch must be ≥ 0, got %d", p.Epoch)
	}
	if err := CheckMetrics("metrics", p.Metrics); err != nil {
		return err
	}
	return checkText("log_message", p.Log, MaxLogBytes)
}

// ReportProgress records a progress report from the assigned node, starting
// the job if it had not started. A report that changes nothing, or that
// arrives after the job ended, records nothing.
func (j *Job) ReportProgress(nodeID string, p Progress, now time.Time) ([]Event, error) {
	if err := p.Validate(); err != nil {
		return nil, err
	}
	if err := j.checkAssignee(nodeID); err != nil {
		return nil, err
	}
	if j.status.Terminal() {
		return nil, nil // the node learns to stop from the job's status
	}
	var out []Event
	if j.status != JobStatusRunning {
		out = append(out, JobStarted{JobID: j.id, NodeID: nodeID, At: now})
	}
	changed := p.Fraction != j.progress || p.Epoch != j.epoch || (p.Log != "" && p.Log != j.lastLog) ||
		(len(p.Metrics) > 0 && !maps.Equal(p.Metrics, j.metrics))
	if changed {
		out = append(out, JobProgressed{JobID: j.id, NodeID: nodeID, Progress: p.Fraction, Epoch: p.Epoch,
			Metrics: maps.Clone(p.Metrics), Log: p.Log, At: now})
	}
	return out, nil
}

// Complete records success reported by the assigned node. A repeated report
// from the same node records nothing.
func (j *Job) Complete(nodeID string, r JobResult, now time.Time) ([]Event, error) {
	if err := j.mustExist(); err != nil {
		return nil, err
	}
	if j.status == JobStatusCompleted && j.node == nodeID {
		return nil, nil
	}
	if j.status.Terminal() {
		return nil, j.terminalErr()
	}
	if err := j.checkAssignee(nodeID); err != nil {
		return nil, err
	}
	for k, v := range r.FinalMetrics {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, invalid("final metric %q is %v; metrics must be finite", k, v)
		}
	}
	if r.ModelSize < 0 || r.ComputeTimeMs < 0 || math.IsNaN(r.EnergyConsumed) || math.IsInf(r.EnergyConsumed, 0) || r.EnergyConsumed < 0 {
		return nil, invalid("model_size, total_compute_time and energy_consumed must be finite and ≥ 0")
	}
	return []Event{JobCompleted{JobID: j.id, NodeID: nodeID, Result: r, At: now}}, nil
}

// Fail records a failure reported by the assigned node. It is terminal: the
// node ran the job and it failed; infrastructure trouble requeues instead.
// A repeated report records nothing.
func (j *Job) Fail(nodeID, reason string, now time.Time) ([]Event, error) {
	if err := j.mustExist(); err != nil {
		return nil, err
	}
	if j.status == JobStatusFailed && j.node == nodeID {
		return nil, nil
	}
	if j.status.Terminal() {
		return nil, j.terminalErr()
	}
	if err := j.checkAssignee(nodeID); err != nil {
		return nil, err
	}
	if reason == "" {
		reason = "the node reported failure"
	}
	return []Event{JobFailed{JobID: j.id, NodeID: nodeID, Reason: reason, At: now}}, nil
}

// Cancel stops a job at its owner's request. Cancelling a cancelled job records nothing.
func (j *Job) Cancel(by, reason string, now time.Time) ([]Event, error) {
	if err := j.mustExist(); err != nil {
		return nil, err
	}
	if by != j.owner {
		return nil, denied("job %s belongs to another user", j.id)
	}
	if j.status == JobStatusCancelled {
		return nil, nil
	}
	if j.status.Terminal() {
		return nil, j.terminalErr()
	}
	return []Event{JobCancelled{JobID: j.id, By: by, NodeID: j.node, Reason: reason, At: now}}, nil
}

// Delete hides a finished job at its owner's request; deleting twice records nothing.
func (j *Job) Delete(by string, now time.Time) ([]Event, error) {
	if err := j.mustExist(); err != nil {
		return nil, err
	}
	if by != j.owner {
		return nil, denied("job %s belongs to another user", j.id)
	}
	if j.deleted {
		return nil, nil
	}
	if !j.status.Terminal() {
		return nil, precondition("job %s is %s; cancel it before deleting it", j.id, j.status)
	}
	return []Event{JobDeleted{JobID: j.id, By: by, At: now}}, nil
}

// Reject records that the assigned node refused the job or could not be
// reached, and puts it back in the queue (or fails it when retries are
// spent). owner is the node's owner: each owner's refusals cost a job at
// most one retry (see refusalRequeue).
func (j *Job) Reject(nodeID, owner, reason string, maxRetries int, now time.Time) ([]Event, error) {
	if j.status.Terminal() {
		return nil, j.terminalErr()
	}
	if err := j.checkAssignee(nodeID); err != nil {
		return nil, err
	}
	out := []Event{JobRejected{JobID: j.id, NodeID: nodeID, Reason: reason, At: now}}
	return append(out, j.refusalRequeue(nodeID, owner, "rejected by node: "+reason, maxRetries, now)), nil
}

// TimeOut fires a deadline: PhaseAccept when the node did not accept in
// time, PhaseRun when the job ran too long (counted from its start, or
// from its acceptance when the node never reported a start). A deadline that no longer
// applies (the job moved on) records nothing.
func (j *Job) TimeOut(nodeID, phase string, maxRetries int, now time.Time) ([]Event, error) {
	if err := j.mustExist(); err != nil {
		return nil, err
	}
	if phase != PhaseAccept && phase != PhaseRun {
		return nil, invalid("unknown timeout phase %q", phase)
	}
	if j.node != nodeID || j.status.Terminal() {
		return nil, nil
	}
	switch phase {
	case PhaseAccept:
		if j.accepted || j.status != JobStatusAssigned {
			return nil, nil
		}
	case PhaseRun:
		if j.status != JobStatusRunning && !j.accepted {
			return nil, nil
		}
	}
	out := []Event{JobTimedOut{JobID: j.id, NodeID: nodeID, Phase: phase, At: now}}
	return append(out, j.requeueOrFail(nodeID, "timed out ("+phase+")", maxRetries, now)), nil
}

// Requeue takes the job back from its node (it went offline), or fails it
// when retries are spent. A job no longer on that node records nothing.
func (j *Job) Requeue(nodeID, reason string, maxRetries int, now time.Time) ([]Event, error) {
	if err := j.mustExist(); err != nil {
		return nil, err
	}
	if j.node != nodeID || j.status.Terminal() || j.status == JobStatusPending {
		return nil, nil
	}
	return []Event{j.requeueOrFail(nodeID, reason, maxRetries, now)}, nil
}

// refusalRequeue requeues a job its node refused. A node owner must not be
// able to fail other users' jobs by refusing them until their retries run
// out, so each owner's refusals cost a job one retry: the first counts
// toward maxRetries like any failure, later ones by the same owner requeue
// the job without counting (Uncounted; the scheduler then keeps the job
// off that node). Refusals by distinct owners, and every other failure,
// count. With no owner known every refusal counts.
func (j *Job) refusalRequeue(nodeID, owner, reason string, maxRetries int, now time.Time) Event {
	if owner != "" && slices.Contains(j.refusers, owner) {
		return JobRequeued{JobID: j.id, PreviousNode: nodeID, Reason: reason, Requeues: j.requeues, Owner: owner, Uncounted: true, At: now}
	}
	ev := j.requeueOrFail(nodeID, reason, maxRetries, now)
	if r, ok := ev.(JobRequeued); ok {
		r.Owner = owner
		return r
	}
	return ev
}

func (j *Job) requeueOrFail(nodeID, reason string, maxRetries int, now time.Time) Event {
	if j.requeues >= maxRetries {
		return JobFailed{JobID: j.id, NodeID: nodeID, Reason: "retries exhausted; last: " + reason, At: now}
	}
	return JobRequeued{JobID: j.id, PreviousNode: nodeID, Reason: reason, Requeues: j.requeues + 1, At: now}
}

// QueueLess orders the pending queue: higher priority first, then older
// first, then by id so the order is total.
func QueueLess(pa Priority, ta time.Time, ida string, pb Priority, tb time.Time, idb string) bool {
	if pa != pb {
		return pa > pb
	}
	if !ta.Equal(tb) {
		return ta.Before(tb)
	}
	return ida < idb
}
