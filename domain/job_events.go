package domain

import "time"

// Event is a domain event; its name is its versioned type in the log.
type Event interface {
	EventName() string
}

// JobSpec is what a client asked for. It is fixed at submission.
type JobSpec struct {
	Type               JobType           `json:"type"`
	Priority           Priority          `json:"priority"`
	ModelDefinition    string            `json:"model_definition,omitempty"`
	Hyperparameters    map[string]string `json:"hyperparameters,omitempty"`
	DatasetURI         string            `json:"dataset_uri,omitempty"`
	BatchSize          int32             `json:"batch_size,omitempty"`
	Epochs             int32             `json:"epochs,omitempty"`
	RequiredDevice     DeviceType        `json:"required_device"`
	EstimatedMemory    int64             `json:"estimated_memory,omitempty"`   // bytes
	EstimatedDuration  int64             `json:"estimated_duration,omitempty"` // seconds
	PaymentAmount      float64           `json:"payment_amount,omitempty"`
	PaymentAddress     string            `json:"payment_address,omitempty"`
	EscrowTxHash       string            `json:"escrow_tx_hash,omitempty"`
	ReservationMinutes int32             `json:"reservation_minutes,omitempty"`
	InitialData        []byte            `json:"initial_data,omitempty"`
}

// JobResult is what a node reports when a job succeeds.
type JobResult struct {
	ModelWeightsURI  string             `json:"model_weights_uri,omitempty"`
	ModelWeightsHash string             `json:"model_weights_hash,omitempty"`
	ModelSize        int64              `json:"model_size,omitempty"`
	FinalMetrics     map[string]float64 `json:"final_metrics,omitempty"`
	ComputeTimeMs    int64              `json:"compute_time_ms,omitempty"`
	EnergyConsumed   float64            `json:"energy_consumed,omitempty"`
	ProofOfCompute   string             `json:"proof_of_compute,omitempty"`
}

// Timeout phases.
const (
	PhaseAccept = "accept" // assigned but not accepted in time
	PhaseRun    = "run"    // running past its time limit
)

type (
	// JobSubmitted opens a job stream.
	JobSubmitted struct {
		JobID string    `json:"job_id"`
		Owner string    `json:"owner"`
		Spec  JobSpec   `json:"spec"`
		At    time.Time `json:"at"`
	}
	// JobAssigned: the scheduler placed the job on a node.
	JobAssigned struct {
		JobID   string    `json:"job_id"`
		NodeID  string    `json:"node_id"`
		Attempt int       `json:"attempt"`
		Score   float64   `json:"score"`
		At      time.Time `json:"at"`
	}
	// JobAccepted: the node agreed to run it.
	JobAccepted struct {
		JobID  string    `json:"job_id"`
		NodeID string    `json:"node_id"`
		At     time.Time `json:"at"`
	}
	// JobRejected: the node refused it, or could not be reached.
	JobRejected struct {
		JobID  string    `json:"job_id"`
		NodeID string    `json:"node_id"`
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	// JobStarted: the node began work.
	JobStarted struct {
		JobID  string    `json:"job_id"`
		NodeID string    `json:"node_id"`
		At     time.Time `json:"at"`
	}
	// JobProgressed: a progress report that changed something.
	JobProgressed struct {
		JobID    string             `json:"job_id"`
		NodeID   string             `json:"node_id"`
		Progress float64            `json:"progress"`
		Epoch    int32              `json:"epoch,omitempty"`
		Metrics  map[string]float64 `json:"metrics,omitempty"`
		Log      string             `json:"log,omitempty"`
		At       time.Time          `json:"at"`
	}
	// JobCompleted is terminal: the job succeeded.
	JobCompleted struct {
		JobID  string    `json:"job_id"`
		NodeID string    `json:"node_id"`
		Result JobResult `json:"result"`
		At     time.Time `json:"at"`
	}
	// JobFailed is terminal: the node reported failure or retries ran out.
	JobFailed struct {
		JobID  string    `json:"job_id"`
		NodeID string    `json:"node_id,omitempty"`
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	// JobCancelled is terminal: the owner cancelled it.
	JobCancelled struct {
		JobID  string    `json:"job_id"`
		By     string    `json:"by"`
		NodeID string    `json:"node_id,omitempty"`
		Reason string    `json:"reason,omitempty"`
		At     time.Time `json:"at"`
	}
	// JobTimedOut: a deadline passed (see PhaseAccept, PhaseRun).
	JobTimedOut struct {
		JobID  string    `json:"job_id"`
		NodeID string    `json:"node_id"`
		Phase  string    `json:"phase"`
		At     time.Time `json:"at"`
	}
	// JobRequeued: back to pending, for another node.
	JobRequeued struct {
		JobID        string `json:"job_id"`
		PreviousNode string `json:"previous_node,omitempty"`
		Reason       string `json:"reason"`
		Requeues     int    `json:"requeues"`
		// Owner is the previous node's owner when it refused the job;
		// Uncounted marks a repeated refusal by that owner, which cost no
		// retry (Requeues unchanged).
		Owner     string    `json:"owner,omitempty"`
		Uncounted bool      `json:"uncounted,omitempty"`
		At        time.Time `json:"at"`
	}
	// JobDeleted hides a finished job from read models; the log keeps it.
	JobDeleted struct {
		JobID string    `json:"job_id"`
		By    string    `json:"by"`
		At    time.Time `json:"at"`
	}
)

func (JobSubmitted) EventName() string  { return "JobSubmitted" }
func (JobAssigned) EventName() string   { return "JobAssigned" }
func (JobAccepted) EventName() string   { return "JobAccepted" }
func (JobRejected) EventName() string   { return "JobRejected" }
func (JobStarted) EventName() string    { return "JobStarted" }
func (JobProgressed) EventName() string { return "JobProgressed" }
func (JobCompleted) EventName() string  { return "JobCompleted" }
func (JobFailed) EventName() string     { return "JobFailed" }
func (JobCancelled) EventName() string  { return "JobCancelled" }
func (JobTimedOut) EventName() string   { return "JobTimedOut" }
func (JobRequeued) EventName() string   { return "JobRequeued" }
func (JobDeleted) EventName() string    { return "JobDeleted" }

// JobStream is the stream name of a job's events.
func JobStream(jobID string) string { return "job-" + jobID }
