package domain

import "time"

// Device is one compute device a node offers.
type Device struct {
	Type              DeviceType `json:"type"`
	Name              string     `json:"name,omitempty"`
	MemoryTotal       int64      `json:"memory_total,omitempty"`
	MemoryAvailable   int64      `json:"memory_available,omitempty"`
	ComputeUnits      int32      `json:"compute_units,omitempty"`
	SupportsFP64      bool       `json:"supports_fp64,omitempty"`
	SupportsFP16      bool       `json:"supports_fp16,omitempty"`
	GPUModel          string     `json:"gpu_model,omitempty"`
	VRAMTotal         int64      `json:"vram_total,omitempty"`
	VRAMAvailable     int64      `json:"vram_available,omitempty"`
	DriverVersion     string     `json:"driver_version,omitempty"`
	CUDAVersion       string     `json:"cuda_version,omitempty"`
	PCIeGeneration    int32      `json:"pcie_generation,omitempty"`
	PCIeLanes         int32      `json:"pcie_lanes,omitempty"`
	ComputeCapability float64    `json:"compute_capability,omitempty"`
}

// Pricing is what a node charges; BillingModel values match the wire enum.
type Pricing struct {
	BillingModel           int     `json:"billing_model"`
	PricePerHour           float64 `json:"price_per_hour,omitempty"`
	PricePerEpoch          float64 `json:"price_per_epoch,omitempty"`
	PricePerJobBase        float64 `json:"price_per_job_base,omitempty"`
	PricePerInference      float64 `json:"price_per_inference,omitempty"`
	MinimumCharge          float64 `json:"minimum_charge,omitempty"`
	MinimumDurationMinutes int32   `json:"minimum_duration_minutes,omitempty"`
	Discount1hPlus         float64 `json:"discount_1h_plus,omitempty"`
	Discount24hPlus        float64 `json:"discount_24h_plus,omitempty"`
	DiscountBulk           float64 `json:"discount_bulk,omitempty"`
	USDEquivalent          float64 `json:"usd_equivalent,omitempty"`
	PriceUpdatedAt         int64   `json:"price_updated_at,omitempty"`
	AcceptsCyxwizToken     bool    `json:"accepts_cyxwiz_token,omitempty"`
	AcceptsSOL             bool    `json:"accepts_sol,omitempty"`
	AcceptsUSDC            bool    `json:"accepts_usdc,omitempty"`
	FreeTierAvailable      bool    `json:"free_tier_available,omitempty"`
	FreeTierMinutes        int32   `json:"free_tier_minutes,omitempty"`
}

// NodeSpec is what a node says about itself when it registers.
type NodeSpec struct {
	Name                   string   `json:"name"`
	Version                string   `json:"version,omitempty"`
	Devices                []Device `json:"devices,omitempty"`
	CPUCores               int32    `json:"cpu_cores,omitempty"`
	RAMTotal               int64    `json:"ram_total,omitempty"`
	RAMAvailable           int64    `json:"ram_available,omitempty"`
	IPAddress              string   `json:"ip_address"`
	Port                   int32    `json:"port"`
	Region                 string   `json:"region,omitempty"`
	ComputeScore           float64  `json:"compute_score,omitempty"`
	StakedAmount           float64  `json:"staked_amount,omitempty"`
	WalletAddress          string   `json:"wallet_address,omitempty"`
	SupportedFormats       []string `json:"supported_formats,omitempty"`
	MaxModelSize           int64    `json:"max_model_size,omitempty"`
	SupportsTerminalAccess bool     `json:"supports_terminal_access,omitempty"`
	AvailableRuntimes      []string `json:"available_runtimes,omitempty"`
	Pricing                Pricing  `json:"pricing"`
	PublicKey              []byte   `json:"public_key,omitempty"`
}

// MetricSample is one sample of a node's load.
type MetricSample struct {
	CPUUsage          float64 `json:"cpu_usage"`
	GPUUsage          float64 `json:"gpu_usage"`
	MemoryUsage       float64 `json:"memory_usage"`
	NetworkThroughput float64 `json:"network_throughput"`
	PowerConsumption  float64 `json:"power_consumption"`
	ActiveJobs        int     `json:"active_jobs"`
	RAMAvailable      int64   `json:"ram_available,omitempty"`
}

type (
	// NodeRegistered opens a node stream, bound to its owner.
	NodeRegistered struct {
		NodeID     string    `json:"node_id"`
		Owner      string    `json:"owner"`
		Spec       NodeSpec  `json:"spec"`
		Reputation float64   `json:"reputation"`
		At         time.Time `json:"at"`
	}
	// NodeUpdated: the node re-registered with new information.
	NodeUpdated struct {
		NodeID string    `json:"node_id"`
		Spec   NodeSpec  `json:"spec"`
		At     time.Time `json:"at"`
	}
	// NodeWentOnline: its lease started.
	NodeWentOnline struct {
		NodeID string    `json:"node_id"`
		At     time.Time `json:"at"`
	}
	// NodeWentOffline: its lease expired or it left.
	NodeWentOffline struct {
		NodeID string    `json:"node_id"`
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	// NodeMetricsSampled: a periodic sample of its load.
	NodeMetricsSampled struct {
		NodeID string       `json:"node_id"`
		Sample MetricSample `json:"sample"`
		At     time.Time    `json:"at"`
	}
	// ReputationAdjusted moves the node's reputation within 0..1.
	ReputationAdjusted struct {
		NodeID string    `json:"node_id"`
		Delta  float64   `json:"delta"`
		Score  float64   `json:"score"`
		Reason string    `json:"reason"`
		JobID  string    `json:"job_id,omitempty"`
		At     time.Time `json:"at"`
	}
	// NodeJobReserved takes one of the node's job slots for a job; it is
	// appended before JobAssigned so capacity holds under concurrency.
	NodeJobReserved struct {
		NodeID string    `json:"node_id"`
		JobID  string    `json:"job_id"`
		At     time.Time `json:"at"`
	}
	// NodeJobReleased frees the slot when the job leaves the node.
	NodeJobReleased struct {
		NodeID string    `json:"node_id"`
		JobID  string    `json:"job_id"`
		Reason string    `json:"reason"`
		At     time.Time `json:"at"`
	}
	// NodeBanned keeps a node from getting new jobs.
	NodeBanned struct {
		NodeID string    `json:"node_id"`
		Reason string    `json:"reason"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
	// NodeUnbanned lifts a ban.
	NodeUnbanned struct {
		NodeID string    `json:"node_id"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
	// NodeDeleted removes a node from discovery and every list, for good
	// (an operator's decision; the log keeps its history). Its jobs were
	// taken back before.
	NodeDeleted struct {
		NodeID string    `json:"node_id"`
		Reason string    `json:"reason"`
		By     string    `json:"by"`
		At     time.Time `json:"at"`
	}
)

func (NodeRegistered) EventName() string     { return "NodeRegistered" }
func (NodeUpdated) EventName() string        { return "NodeUpdated" }
func (NodeWentOnline) EventName() string     { return "NodeWentOnline" }
func (NodeWentOffline) EventName() string    { return "NodeWentOffline" }
func (NodeMetricsSampled) EventName() string { return "NodeMetricsSampled" }
func (ReputationAdjusted) EventName() string { return "ReputationAdjusted" }
func (NodeJobReserved) EventName() string    { return "NodeJobReserved" }
func (NodeJobReleased) EventName() string    { return "NodeJobReleased" }
func (NodeBanned) EventName() string         { return "NodeBanned" }
func (NodeUnbanned) EventName() string       { return "NodeUnbanned" }
func (NodeDeleted) EventName() string        { return "NodeDeleted" }

// NodeStream is the stream name of a node's events.
func NodeStream(nodeID string) string { return "node-" + nodeID }

// AllEvents returns a zero value of every event type, for codec registration.
func AllEvents() []Event {
	return []Event{
		JobSubmitted{}, JobAssigned{}, JobAccepted{}, JobRejected{}, JobStarted{}, JobProgressed{},
		JobCompleted{}, JobFailed{}, JobCancelled{}, JobTimedOut{}, JobRequeued{}, JobDeleted{},
		NodeRegistered{}, NodeUpdated{}, NodeWentOnline{}, NodeWentOffline{}, NodeMetricsSampled{},
		ReputationAdjusted{}, NodeJobReserved{}, NodeJobReleased{}, NodeBanned{}, NodeUnbanned{},
		NodeDeleted{},
	}
}
