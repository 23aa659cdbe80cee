package rest

import (
	"encoding/json"
	"maps"
	"slices"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/projections"
)

// The JSON views of the API, snake_case, built from the read model's
// views; internal structs are never encoded directly. Times are RFC 3339
// in UTC; a time that has not happened is left out.

func ts(t time.Time) *time.Time {
	if t.IsZero() {
		return nil
	}
	u := t.UTC()
	return &u
}

// JobJSON is a job.
type JobJSON struct {
	ID          string             `json:"id"`
	Owner       string             `json:"owner"`
	Type        string             `json:"type"`
	Priority    string             `json:"priority"`
	Status      string             `json:"status"`
	NodeID      string             `json:"node_id,omitempty"`
	Accepted    bool               `json:"accepted"`
	Progress    float64            `json:"progress"`
	Epoch       int32              `json:"epoch"`
	Metrics     map[string]float64 `json:"metrics,omitempty"`
	Attempts    int                `json:"attempts"`
	Requeues    int                `json:"requeues"`
	Spec        JobSpecJSON        `json:"spec"`
	SubmittedAt *time.Time         `json:"submitted_at,omitempty"`
	AssignedAt  *time.Time         `json:"assigned_at,omitempty"`
	AcceptedAt  *time.Time         `json:"accepted_at,omitempty"`
	StartedAt   *time.Time         `json:"started_at,omitempty"`
	EndedAt     *time.Time         `json:"ended_at,omitempty"`
	Reason      string             `json:"reason,omitempty"`
	Result      *JobResultJSON     `json:"result,omitempty"`
	LastLog     string             `json:"last_log,omitempty"`
	Revision    uint64             `json:"revision"`
	Position    uint64             `json:"position"`
}

// JobSpecJSON is what the client asked for.
type JobSpecJSON struct {
	ModelDefinition          string            `json:"model_definition,omitempty"`
	Hyperparameters          map[string]string `json:"hyperparameters,omitempty"`
	DatasetURI               string            `json:"dataset_uri,omitempty"`
	BatchSize                int32             `json:"batch_size"`
	Epochs                   int32             `json:"epochs"`
	RequiredDevice           string            `json:"required_device"`
	EstimatedMemoryBytes     int64             `json:"estimated_memory_bytes"`
	EstimatedDurationSeconds int64             `json:"estimated_duration_seconds"`
	PaymentAmount            float64           `json:"payment_amount"`
	PaymentAddress           string            `json:"payment_address,omitempty"`
	EscrowTxHash             string            `json:"escrow_tx_hash,omitempty"`
	ReservationMinutes       int32             `json:"reservation_minutes,omitempty"`
}

// JobResultJSON is a completed job's result.
type JobResultJSON struct {
	ModelWeightsURI  string             `json:"model_weights_uri,omitempty"`
	ModelWeightsHash string             `json:"model_weights_hash,omitempty"`
	ModelSizeBytes   int64              `json:"model_size_bytes"`
	FinalMetrics     map[string]float64 `json:"final_metrics,omitempty"`
	ComputeTimeMs    int64              `json:"compute_time_ms"`
	EnergyConsumed   float64            `json:"energy_consumed"`
	ProofOfCompute   string             `json:"proof_of_compute,omitempty"`
}

func jobJSON(v *projections.JobView) JobJSON {
	s := &v.Spec
	j := JobJSON{
		ID: v.ID, Owner: v.Owner, Type: s.Type.String(), Priority: s.Priority.String(), Status: v.Status.String(),
		NodeID: v.NodeID, Accepted: v.Accepted, Progress: v.Progress, Epoch: v.Epoch, Metrics: maps.Clone(v.Metrics),
		Attempts: v.Attempts, Requeues: v.Requeues,
		Spec: JobSpecJSON{
			ModelDefinition: s.ModelDefinition, Hyperparameters: maps.Clone(s.Hyperparameters), DatasetURI: s.DatasetURI,
			BatchSize: s.BatchSize, Epochs: s.Epochs, RequiredDevice: s.RequiredDevice.String(),
			EstimatedMemoryBytes: s.EstimatedMemory, EstimatedDurationSeconds: s.EstimatedDuration,
			PaymentAmount: s.PaymentAmount, PaymentAddress: s.PaymentAddress, EscrowTxHash: s.EscrowTxHash,
			ReservationMinutes: s.ReservationMinutes,
		},
		SubmittedAt: ts(v.SubmittedAt), AssignedAt: ts(v.AssignedAt), AcceptedAt: ts(v.AcceptedAt),
		StartedAt: ts(v.StartedAt), EndedAt: ts(v.EndedAt),
		Reason: v.Reason, LastLog: v.LastLog, Revision: v.Revision, Position: v.Position,
	}
	if r := v.Result; r != nil {
		j.Result = &JobResultJSON{
			ModelWeightsURI: r.ModelWeightsURI, ModelWeightsHash: r.ModelWeightsHash, ModelSizeBytes: r.ModelSize,
			FinalMetrics: maps.Clone(r.FinalMetrics), ComputeTimeMs: r.ComputeTimeMs, EnergyConsumed: r.EnergyConsumed,
			ProofOfCompute: r.ProofOfCompute,
		}
	}
	return j
}

// JobListJSON is a page of jobs.
type JobListJSON struct {
	Jobs       []JobJSON `json:"jobs"`
	Total      int       `json:"total"`
	NextCursor string    `json:"next_cursor,omitempty"`
	// RetainedAfterPosition, when set, is how far back the list reaches:
	// projections.JobHorizon.
	RetainedAfterPosition uint64 `json:"retained_after_position,omitempty"`
}

// NodeJSON is a node.
type NodeJSON struct {
	ID                     string           `json:"id"`
	Name                   string           `json:"name"`
	Owner                  string           `json:"owner"`
	Online                 bool             `json:"online"`
	Banned                 bool             `json:"banned"`
	Reputation             float64          `json:"reputation"`
	Region                 string           `json:"region,omitempty"`
	Version                string           `json:"version,omitempty"`
	IPAddress              string           `json:"ip_address"`
	Port                   int32            `json:"port"`
	CPUCores               int32            `json:"cpu_cores"`
	RAMTotalBytes          int64            `json:"ram_total_bytes"`
	RAMAvailableBytes      int64            `json:"ram_available_bytes"`
	ComputeScore           float64          `json:"compute_score"`
	StakedAmount           float64          `json:"staked_amount"`
	WalletAddress          string           `json:"wallet_address,omitempty"`
	Devices                []DeviceJSON     `json:"devices"`
	Pricing                PricingJSON      `json:"pricing"`
	SupportedFormats       []string         `json:"supported_formats,omitempty"`
	AvailableRuntimes      []string         `json:"available_runtimes,omitempty"`
	MaxModelSizeBytes      int64            `json:"max_model_size_bytes,omitempty"`
	SupportsTerminalAccess bool             `json:"supports_terminal_access"`
	ActiveJobs             int              `json:"active_jobs"`
	ActiveJobIDs           []string         `json:"active_job_ids"`
	FreeSlots              int              `json:"free_slots"`
	JobsCompleted          int64            `json:"jobs_completed"`
	ComputeHours           float64          `json:"compute_hours"`
	UptimePercent          float64          `json:"uptime_percent"`
	RegisteredAt           *time.Time       `json:"registered_at,omitempty"`
	WentOnlineAt           *time.Time       `json:"went_online_at,omitempty"`
	WentOfflineAt          *time.Time       `json:"went_offline_at,omitempty"`
	LastSeen               *time.Time       `json:"last_seen,omitempty"`
	LastMetrics            *MetricPointJSON `json:"last_metrics,omitempty"`
	Revision               uint64           `json:"revision"`
	Position               uint64           `json:"position"`
}

// DeviceJSON is one compute device of a node.
type DeviceJSON struct {
	Type                 string  `json:"type"`
	Name                 string  `json:"name,omitempty"`
	GPUModel             string  `json:"gpu_model,omitempty"`
	MemoryTotalBytes     int64   `json:"memory_total_bytes"`
	MemoryAvailableBytes int64   `json:"memory_available_bytes"`
	VRAMTotalBytes       int64   `json:"vram_total_bytes"`
	VRAMAvailableBytes   int64   `json:"vram_available_bytes"`
	ComputeUnits         int32   `json:"compute_units"`
	ComputeCapability    float64 `json:"compute_capability,omitempty"`
	SupportsFP16         bool    `json:"supports_fp16"`
	SupportsFP64         bool    `json:"supports_fp64"`
	DriverVersion        string  `json:"driver_version,omitempty"`
	CUDAVersion          string  `json:"cuda_version,omitempty"`
}

// PricingJSON is a node's price list.
type PricingJSON struct {
	BillingModel      string  `json:"billing_model"`
	PricePerHour      float64 `json:"price_per_hour"`
	PricePerEpoch     float64 `json:"price_per_epoch"`
	PricePerJobBase   float64 `json:"price_per_job_base"`
	PricePerInference float64 `json:"price_per_inference"`
	MinimumCharge     float64 `json:"minimum_charge"`
	USDEquivalent     float64 `json:"usd_equivalent"`
	AcceptsSOL        bool    `json:"accepts_sol"`
	AcceptsUSDC       bool    `json:"accepts_usdc"`
	AcceptsCyxwiz     bool    `json:"accepts_cyxwiz_token"`
	FreeTierAvailable bool    `json:"free_tier_available"`
	FreeTierMinutes   int32   `json:"free_tier_minutes,omitempty"`
}

// billingModels names the wire's NodePricing.BillingModel values.
var billingModels = []string{"hourly", "per_epoch", "per_job", "per_inference"}

func billingModel(m int) string {
	if m >= 0 && m < len(billingModels) {
		return billingModels[m]
	}
	return "unknown"
}

// MetricPointJSON is one load sample of a node.
type MetricPointJSON struct {
	At                string  `json:"at"`
	CPUUsage          float64 `json:"cpu_usage"`
	GPUUsage          float64 `json:"gpu_usage"`
	MemoryUsage       float64 `json:"memory_usage"`
	NetworkThroughput float64 `json:"network_throughput"`
	PowerConsumption  float64 `json:"power_consumption"`
	ActiveJobs        int     `json:"active_jobs"`
	RAMAvailableBytes int64   `json:"ram_available_bytes,omitempty"`
}

func metricJSON(at time.Time, s *domain.MetricSample) MetricPointJSON {
	return MetricPointJSON{
		At: at.UTC().Format(time.RFC3339Nano), CPUUsage: s.CPUUsage, GPUUsage: s.GPUUsage, MemoryUsage: s.MemoryUsage,
		NetworkThroughput: s.NetworkThroughput, PowerConsumption: s.PowerConsumption, ActiveJobs: s.ActiveJobs,
		RAMAvailableBytes: s.RAMAvailable,
	}
}

func nodeJSON(v *projections.NodeView, now time.Time, maxJobs int) NodeJSON {
	s := &v.Spec
	n := NodeJSON{
		ID: v.ID, Name: s.Name, Owner: v.Owner, Online: v.Online, Banned: v.Banned, Reputation: v.Reputation,
		Region: s.Region, Version: s.Version, IPAddress: s.IPAddress, Port: s.Port, CPUCores: s.CPUCores,
		RAMTotalBytes: s.RAMTotal, RAMAvailableBytes: s.RAMAvailable, ComputeScore: s.ComputeScore,
		StakedAmount: s.StakedAmount, WalletAddress: s.WalletAddress, Devices: make([]DeviceJSON, len(s.Devices)),
		Pricing: PricingJSON{
			BillingModel: billingModel(s.Pricing.BillingModel), PricePerHour: s.Pricing.PricePerHour,
			PricePerEpoch: s.Pricing.PricePerEpoch, PricePerJobBase: s.Pricing.PricePerJobBase,
			PricePerInference: s.Pricing.PricePerInference, MinimumCharge: s.Pricing.MinimumCharge,
			USDEquivalent: s.Pricing.USDEquivalent, AcceptsSOL: s.Pricing.AcceptsSOL, AcceptsUSDC: s.Pricing.AcceptsUSDC,
			AcceptsCyxwiz: s.Pricing.AcceptsCyxwizToken, FreeTierAvailable: s.Pricing.FreeTierAvailable,
			FreeTierMinutes: s.Pricing.FreeTierMinutes,
		},
		SupportedFormats: slices.Clone(s.SupportedFormats), AvailableRuntimes: slices.Clone(s.AvailableRuntimes),
		MaxModelSizeBytes: s.MaxModelSize, SupportsTerminalAccess: s.SupportsTerminalAccess,
		ActiveJobs: v.ActiveJobs(), ActiveJobIDs: make([]string, 0, len(v.Reservations)), FreeSlots: v.FreeSlots(maxJobs),
		JobsCompleted: v.JobsCompleted, ComputeHours: v.ComputeHours(), UptimePercent: v.Uptime(now),
		RegisteredAt: ts(v.RegisteredAt), WentOnlineAt: ts(v.WentOnlineAt), WentOfflineAt: ts(v.WentOfflineAt),
		LastSeen: ts(v.LastSeen), Revision: v.Revision, Position: v.Position,
	}
	for i := range s.Devices {
		d := &s.Devices[i]
		n.Devices[i] = DeviceJSON{
			Type: d.Type.String(), Name: d.Name, GPUModel: d.GPUModel, MemoryTotalBytes: d.MemoryTotal,
			MemoryAvailableBytes: d.MemoryAvailable, VRAMTotalBytes: d.VRAMTotal, VRAMAvailableBytes: d.VRAMAvailable,
			ComputeUnits: d.ComputeUnits, ComputeCapability: d.ComputeCapability, SupportsFP16: d.SupportsFP16,
			SupportsFP64: d.SupportsFP64, DriverVersion: d.DriverVersion, CUDAVersion: d.CUDAVersion,
		}
	}
	for _, r := range v.Reservations {
		n.ActiveJobIDs = append(n.ActiveJobIDs, r.JobID)
	}
	if v.LastMetrics != nil {
		m := metricJSON(v.LastMetricsAt, v.LastMetrics)
		n.LastMetrics = &m
	}
	return n
}

// NodeListJSON is a page of nodes.
type NodeListJSON struct {
	Nodes      []NodeJSON `json:"nodes"`
	Total      int        `json:"total"`
	Online     int        `json:"online"`
	NextCursor string     `json:"next_cursor,omitempty"`
	// Over every online node that is not banned, whatever the filter.
	NetworkAvgPrice     float64 `json:"network_avg_price"`
	NetworkTotalCompute float64 `json:"network_total_compute"`
}

// MetricListJSON is a node's load samples, oldest first.
type MetricListJSON struct {
	NodeID     string            `json:"node_id"`
	Metrics    []MetricPointJSON `json:"metrics"`
	NextCursor string            `json:"next_cursor,omitempty"`
}

// EventJSON is one event of the log, as history entries and stream frames
// carry it. Payload is the event's JSON as the current codec reads it
// (older versions upcast); an event the codec cannot read keeps its
// recorded payload and names the problem in DecodeError.
type EventJSON struct {
	ID            string          `json:"id"`
	Position      uint64          `json:"position"`
	Stream        string          `json:"stream"`
	Revision      uint64          `json:"revision"`
	Time          string          `json:"time"`
	Event         string          `json:"event"`
	Actor         string          `json:"actor,omitempty"`
	CorrelationID string          `json:"correlation_id,omitempty"`
	CausationID   string          `json:"causation_id,omitempty"`
	Summary       string          `json:"summary,omitempty"`
	Payload       json.RawMessage `json:"payload"`
	DecodeError   string          `json:"decode_error,omitempty"`
}

func (s *Server) eventJSON(r *eventstore.RecordedEvent) EventJSON {
	e := EventJSON{
		ID: r.ID, Position: r.Position, Stream: r.Stream, Revision: r.Revision,
		Time: r.Recorded.UTC().Format(time.RFC3339Nano), Event: r.Type, Actor: r.Metadata.Actor,
		CorrelationID: r.Metadata.CorrelationID, CausationID: r.Metadata.CausationID,
	}
	v, err := s.deps.Codec.Decode(r.Type, r.Data)
	if err == nil {
		var data []byte
		if data, err = json.Marshal(v); err == nil {
			e.Payload = data
			if ev, ok := v.(domain.Event); ok {
				e.Event = ev.EventName()
				e.Summary = summary(ev)
			}
			return e
		}
	}
	e.DecodeError = err.Error()
	if json.Valid(r.Data) {
		e.Payload = r.Data
	} else {
		e.Payload, _ = json.Marshal(string(r.Data))
	}
	return e
}

// summary is a readable line for job events ("" for others).
func summary(e domain.Event) string {
	if _, ok := projections.JobIDOf(e); ok {
		if _, progress := e.(domain.JobProgressed); !progress {
			return projections.Describe(e)
		}
	}
	return ""
}

// EventListJSON is a page of one stream's history, oldest first.
type EventListJSON struct {
	Stream     string      `json:"stream"`
	Events     []EventJSON `json:"events"`
	NextCursor string      `json:"next_cursor,omitempty"`
}

// StatsJSON is the network at a glance.
type StatsJSON struct {
	NodesTotal       int        `json:"nodes_total"`
	NodesOnline      int        `json:"nodes_online"`
	JobsTotal        int        `json:"jobs_total"`
	JobsPending      int        `json:"jobs_pending"`
	JobsRunning      int        `json:"jobs_running"`
	JobsCompleted24h int        `json:"jobs_completed_24h"`
	JobsFailed24h    int        `json:"jobs_failed_24h"`
	Hourly           []HourJSON `json:"hourly"`
	GeneratedAt      time.Time  `json:"generated_at"`
}

// HourJSON is one hour of activity.
type HourJSON struct {
	Hour          time.Time `json:"hour"`
	Submitted     int       `json:"submitted"`
	Completed     int       `json:"completed"`
	Failed        int       `json:"failed"`
	Cancelled     int       `json:"cancelled"`
	AvgDurationMs float64   `json:"avg_duration_ms"`
}

func statsJSON(st *projections.NetworkStats, now time.Time) StatsJSON {
	out := StatsJSON{
		NodesTotal: st.NodesTotal, NodesOnline: st.NodesOnline, JobsTotal: st.JobsTotal, JobsPending: st.JobsPending,
		JobsRunning: st.JobsRunning, JobsCompleted24h: st.JobsCompleted24h, JobsFailed24h: st.JobsFailed24h,
		Hourly: make([]HourJSON, len(st.Hourly)), GeneratedAt: now.UTC(),
	}
	for i, h := range st.Hourly {
		out.Hourly[i] = HourJSON{Hour: h.Hour.UTC(), Submitted: h.Submitted, Completed: h.Completed, Failed: h.Failed,
			Cancelled: h.Cancelled, AvgDurationMs: h.AvgDurationMs}
	}
	return out
}

// PaymentJSON is one job's settlement (projections.PaymentView): amount
// in SOL, the *_lamports fields exact.
type PaymentJSON struct {
	JobID           string     `json:"job_id"`
	Status          string     `json:"status"`
	Amount          float64    `json:"amount"`
	Lamports        uint64     `json:"lamports"`
	Payer           string     `json:"payer,omitempty"`
	NodeID          string     `json:"node_id,omitempty"`
	Payee           string     `json:"payee,omitempty"`
	PayoutLamports  uint64     `json:"payout_lamports,omitempty"`
	FeeLamports     uint64     `json:"fee_lamports,omitempty"`
	RefundLamports  uint64     `json:"refund_lamports,omitempty"`
	EscrowSignature string     `json:"escrow_signature,omitempty"`
	Signature       string     `json:"signature,omitempty"`
	Reason          string     `json:"reason,omitempty"`
	CreatedAt       *time.Time `json:"created_at,omitempty"`
	UpdatedAt       *time.Time `json:"updated_at,omitempty"`
	SettledAt       *time.Time `json:"settled_at,omitempty"`
}

// PaymentListJSON is a page of payments, newest first.
type PaymentListJSON struct {
	Payments   []PaymentJSON `json:"payments"`
	NextCursor string        `json:"next_cursor,omitempty"`
}

// ActivityJSON is one line of the activity log.
type ActivityJSON struct {
	Position uint64 `json:"position"`
	Time     string `json:"time"`
	Event    string `json:"event"`
	Stream   string `json:"stream"`
	JobID    string `json:"job_id,omitempty"`
	NodeID   string `json:"node_id,omitempty"`
	Actor    string `json:"actor,omitempty"`
	Summary  string `json:"summary,omitempty"`
}

// ActivityListJSON is a page of the activity log, newest first.
type ActivityListJSON struct {
	Activity   []ActivityJSON `json:"activity"`
	NextCursor string         `json:"next_cursor,omitempty"`
}

// HealthJSON is the answer of /api/health.
type HealthJSON struct {
	Status        string            `json:"status"` // healthy, degraded, unhealthy
	Components    map[string]string `json:"components"`
	Details       map[string]string `json:"details,omitempty"`
	UptimeSeconds int64             `json:"uptime_seconds"`
	Version       string            `json:"version,omitempty"`
	Time          time.Time         `json:"time"`
}
