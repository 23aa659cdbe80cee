package domain

import (
	"fmt"
	"math"
	"net"
	"slices"
	"strings"
	"time"
)

// InitialReputation is a new node's reputation: neutral.
const InitialReputation = 0.5

// Node is the node aggregate, rebuilt from its stream.
type Node struct {
	id           string
	owner        string
	spec         NodeSpec
	online       bool
	banned       bool
	deleted      bool
	reputation   float64
	active       []string // reserved job ids, in reservation order
	registeredAt time.Time
	lastChange   time.Time
	version      int
}

func (n *Node) ID() string              { return n.id }
func (n *Node) Owner() string           { return n.owner }
func (n *Node) Spec() NodeSpec          { return n.spec.clone() }
func (n *Node) Online() bool            { return n.online }
func (n *Node) Banned() bool            { return n.banned }
func (n *Node) Deleted() bool           { return n.deleted }
func (n *Node) Reputation() float64     { return n.reputation }
func (n *Node) ActiveJobs() []string    { return slices.Clone(n.active) }
func (n *Node) RegisteredAt() time.Time { return n.registeredAt }

// Clone returns a deep copy, for caches of folded aggregates.
func (n *Node) Clone() *Node {
	c := *n
	c.spec = n.spec.clone()
	c.active = slices.Clone(n.active)
	return &c
}

// Exists reports whether the node registered.
func (n *Node) Exists() bool { return n.id != "" }

// Version is the number of events folded; the stream's last revision is Version()-1.
func (n *Node) Version() int { return n.version }

// Holds reports whether the node holds a slot for the job.
func (n *Node) Holds(jobID string) bool { return slices.Contains(n.active, jobID) }

// Apply folds one event into the node.
func (n *Node) Apply(e Event) {
	n.version++
	switch e := e.(type) {
	case NodeRegistered:
		n.id, n.owner, n.spec, n.reputation, n.registeredAt = e.NodeID, e.Owner, e.Spec.clone(), e.Reputation, e.At
	case NodeUpdated:
		n.spec = e.Spec.clone()
	case NodeWentOnline:
		n.online = true
	case NodeWentOffline:
		n.online = false
	case ReputationAdjusted:
		n.reputation = e.Score
	case NodeJobReserved:
		n.active = append(n.active, e.JobID)
	case NodeJobReleased:
		n.active = slices.DeleteFunc(n.active, func(id string) bool { return id == e.JobID })
	case NodeBanned:
		n.banned = true
	case NodeUnbanned:
		n.banned = false
	case NodeDeleted:
		n.deleted, n.banned, n.online = true, true, false
	}
	if t := eventTime(e); !t.IsZero() {
		n.lastChange = t
	}
}

func eventTime(e Event) time.Time {
	switch e := e.(type) {
	case NodeRegistered:
		return e.At
	case NodeUpdated:
		return e.At
	case NodeWentOnline:
		return e.At
	case NodeWentOffline:
		return e.At
	}
	return time.Time{}
}

func (s NodeSpec) clone() NodeSpec {
	s.Devices = slices.Clone(s.Devices)
	s.SupportedFormats = slices.Clone(s.SupportedFormats)
	s.AvailableRuntimes = slices.Clone(s.AvailableRuntimes)
	s.PublicKey = slices.Clone(s.PublicKey)
	return s
}

// Validate checks a node's self-description.
func (s NodeSpec) Validate() error {
	switch {
	case strings.TrimSpace(s.Name) == "":
		return invalid("info.name is required")
	case len(s.Name) > MaxNodeNameBytes:
		return invalid("info.name is longer than %d bytes", MaxNodeNameBytes)
	case s.IPAddress == "":
		return invalid("info.ip_address is required: the server pushes jobs to it")
	case s.Port <= 0 || s.Port > 65535:
		return invalid("info.port must be within 1..65535, got %d", s.Port)
	}
	if err := s.ValidateStatus(); err != nil {
		return err
	}
	if net.ParseIP(s.IPAddress) == nil && !validHostname(s.IPAddress) {
		return invalid("info.ip_address %q is neither an IP address nor a host name", clipText(s.IPAddress))
	}
	return nil
}

// ValidateStatus checks what a heartbeat's current_status may carry: every
// field bounded and every number finite and ≥ 0, without the fields only
// a registration needs.
func (s NodeSpec) ValidateStatus() error {
	switch {
	case s.CPUCores < 0 || s.RAMTotal < 0 || s.RAMAvailable < 0 || s.MaxModelSize < 0:
		return invalid("cpu_cores, ram_total, ram_available and max_model_size must be ≥ 0")
	case len(s.Devices) > MaxDevices:
		return invalid("a node may list at most %d devices, got %d", MaxDevices, len(s.Devices))
	case s.Port < 0 || s.Port > 65535:
		return invalid("info.port must be within 1..65535, got %d", s.Port)
	}
	for _, t := range []struct {
		name  string
		v     string
		limit int
	}{{"info.name", s.Name, MaxNodeNameBytes}, {"info.version", s.Version, MaxNodeVersionBytes},
		{"info.ip_address", s.IPAddress, MaxHostBytes}, {"info.region", s.Region, MaxRegionBytes},
		{"info.wallet_address", s.WalletAddress, MaxWalletBytes}, {"public_key", string(s.PublicKey), MaxPublicKeyBytes}} {
		if err := checkText(t.name, t.v, t.limit); err != nil {
			return err
		}
	}
	if err := checkTexts("info.supported_formats", s.SupportedFormats, MaxListEntries, MaxListEntryBytes); err != nil {
		return err
	}
	if err := checkTexts("info.available_runtimes", s.AvailableRuntimes, MaxListEntries, MaxListEntryBytes); err != nil {
		return err
	}
	for _, v := range []struct {
		name string
		v    float64
	}{{"compute_score", s.ComputeScore}, {"staked_amount", s.StakedAmount},
		{"pricing.price_per_hour", s.Pricing.PricePerHour}, {"pricing.price_per_epoch", s.Pricing.PricePerEpoch},
		{"pricing.price_per_job_base", s.Pricing.PricePerJobBase}, {"pricing.price_per_inference", s.Pricing.PricePerInference},
		{"pricing.minimum_charge", s.Pricing.MinimumCharge}, {"pricing.usd_equivalent", s.Pricing.USDEquivalent},
		{"pricing.discount_1h_plus", s.Pricing.Discount1hPlus}, {"pricing.discount_24h_plus", s.Pricing.Discount24hPlus},
		{"pricing.discount_bulk", s.Pricing.DiscountBulk}} {
		if err := checkNonNegative("info."+v.name, v.v); err != nil {
			return err
		}
	}
	if s.Pricing.MinimumDurationMinutes < 0 || s.Pricing.FreeTierMinutes < 0 || s.Pricing.PriceUpdatedAt < 0 {
		return invalid("pricing: minimum_duration_minutes, free_tier_minutes and price_updated_at must be ≥ 0")
	}
	if s.Pricing.BillingModel < 0 || s.Pricing.BillingModel > 3 {
		return invalid("pricing.billing_model %d is not a known billing model", s.Pricing.BillingModel)
	}
	for i, d := range s.Devices {
		if !d.Type.Valid() {
			return invalid("devices[%d].device_type %d is not a known device type", i, d.Type)
		}
		if d.MemoryTotal < 0 || d.MemoryAvailable < 0 || d.VRAMTotal < 0 || d.VRAMAvailable < 0 || d.ComputeUnits < 0 {
			return invalid("devices[%d]: memory, vram and compute_units must be ≥ 0", i)
		}
		if math.IsNaN(d.ComputeCapability) || math.IsInf(d.ComputeCapability, 0) {
			return invalid("devices[%d].compute_capability must be finite", i)
		}
		if err := checkTexts(fmt.Sprintf("devices[%d] names", i), []string{d.Name, d.GPUModel, d.DriverVersion, d.CUDAVersion},
			4, MaxDeviceStringBytes); err != nil {
			return err
		}
	}
	return nil
}

// validHostname follows RFC 1123: dot-separated labels of letters, digits
// and inner hyphens, the last one not all digits.
func validHostname(h string) bool {
	if len(h) == 0 || len(h) > 253 {
		return false
	}
	labels := strings.Split(h, ".")
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return false
	}
	for _, label := range labels {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r == '-' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
				return false
			}
		}
	}
	return true
}

// RegisterNode validates a new node and returns the NodeRegistered that
// opens its stream.
func RegisterNode(nodeID, owner string, spec NodeSpec, now time.Time) (NodeRegistered, error) {
	if nodeID == "" {
		return NodeRegistered{}, invalid("node id is required")
	}
	if owner == "" {
		return NodeRegistered{}, invalid("a node needs an owner")
	}
	if err := spec.Validate(); err != nil {
		return NodeRegistered{}, err
	}
	return NodeRegistered{NodeID: nodeID, Owner: owner, Spec: spec, Reputation: InitialReputation, At: now}, nil
}

// Reregister updates the node's information; only its owner may. Identical
// information records nothing.
func (n *Node) Reregister(owner string, spec NodeSpec, now time.Time) ([]Event, error) {
	if !n.Exists() {
		return nil, notFound("node is not registered")
	}
	if owner != n.owner {
		return nil, denied("node %s belongs to another owner", n.id)
	}
	if n.deleted {
		return nil, precondition("node %s was deleted by an operator", n.id)
	}
	if err := spec.Validate(); err != nil {
		return nil, err
	}
	if specEqual(spec, n.spec) {
		return nil, nil
	}
	return []Event{NodeUpdated{NodeID: n.id, Spec: spec, At: now}}, nil
}

func specEqual(a, b NodeSpec) bool {
	// RAMAvailable and device availability change constantly; they are
	// liveness data, not identity.
	a.RAMAvailable, b.RAMAvailable = 0, 0
	strip := func(ds []Device) []Device {
		out := slices.Clone(ds)
		for i := range out {
			out[i].MemoryAvailable, out[i].VRAMAvailable = 0, 0
		}
		return out
	}
	return a.Name == b.Name && a.Version == b.Version && slices.Equal(strip(a.Devices), strip(b.Devices)) &&
		a.CPUCores == b.CPUCores && a.RAMTotal == b.RAMTotal && a.IPAddress == b.IPAddress &&
		a.Port == b.Port && a.Region == b.Region && a.ComputeScore == b.ComputeScore &&
		a.StakedAmount == b.StakedAmount && a.WalletAddress == b.WalletAddress &&
		slices.Equal(a.SupportedFormats, b.SupportedFormats) && a.MaxModelSize == b.MaxModelSize &&
		a.SupportsTerminalAccess == b.SupportsTerminalAccess && slices.Equal(a.AvailableRuntimes, b.AvailableRuntimes) &&
		a.Pricing == b.Pricing && string(a.PublicKey) == string(b.PublicKey)
}

// MarkOnline records the start of a lease; already online records nothing.
func (n *Node) MarkOnline(now time.Time) []Event {
	if !n.Exists() || n.online || n.deleted {
		return nil
	}
	return []Event{NodeWentOnline{NodeID: n.id, At: now}}
}

// MarkOffline records the end of a lease; already offline records nothing.
func (n *Node) MarkOffline(reason string, now time.Time) []Event {
	if !n.Exists() || !n.online {
		return nil
	}
	return []Event{NodeWentOffline{NodeID: n.id, Reason: reason, At: now}}
}

// Reserve takes a job slot: the node must be online, not banned, under
// maxJobs active jobs and at or above the reputation floor. Reserving a job
// it already holds records nothing.
func (n *Node) Reserve(jobID string, maxJobs int, minReputation float64, now time.Time) ([]Event, error) {
	switch {
	case !n.Exists():
		return nil, notFound("node is not registered")
	case jobID == "":
		return nil, invalid("a reservation needs a job")
	case n.Holds(jobID):
		return nil, nil
	case !n.online:
		return nil, precondition("node %s is offline", n.id)
	case n.banned:
		return nil, precondition("node %s is banned", n.id)
	case n.reputation < minReputation:
		return nil, precondition("node %s reputation %.2f is below the floor %.2f", n.id, n.reputation, minReputation)
	case len(n.active) >= maxJobs:
		return nil, &CapacityError{NodeID: n.id, Active: len(n.active), Max: maxJobs}
	}
	return []Event{NodeJobReserved{NodeID: n.id, JobID: jobID, At: now}}, nil
}

// CapacityError says a node is full; it wraps ErrResourceExhausted.
type CapacityError struct {
	NodeID      string
	Active, Max int
}

func (e *CapacityError) Error() string {
	return "resource exhausted: node " + e.NodeID + " already runs its maximum of jobs"
}

func (e *CapacityError) Unwrap() error { return ErrResourceExhausted }

// Release frees a job's slot; a slot not held records nothing.
func (n *Node) Release(jobID, reason string, now time.Time) []Event {
	if !n.Holds(jobID) {
		return nil
	}
	return []Event{NodeJobReleased{NodeID: n.id, JobID: jobID, Reason: reason, At: now}}
}

// AdjustReputation moves reputation by delta, clamped to 0..1. A change
// that clamps to nothing records nothing.
func (n *Node) AdjustReputation(delta float64, reason, jobID string, now time.Time) ([]Event, error) {
	if !n.Exists() {
		return nil, notFound("node is not registered")
	}
	if math.IsNaN(delta) || math.IsInf(delta, 0) {
		return nil, invalid("reputation delta must be finite")
	}
	if n.deleted {
		return nil, nil
	}
	score := min(1, max(0, n.reputation+delta))
	if score == n.reputation {
		return nil, nil
	}
	return []Event{ReputationAdjusted{NodeID: n.id, Delta: score - n.reputation, Score: score, Reason: reason, JobID: jobID, At: now}}, nil
}

// SampleMetrics records a load sample.
func (n *Node) SampleMetrics(s MetricSample, now time.Time) ([]Event, error) {
	if !n.Exists() {
		return nil, notFound("node is not registered")
	}
	for _, v := range []float64{s.CPUUsage, s.GPUUsage, s.MemoryUsage, s.NetworkThroughput, s.PowerConsumption} {
		if math.IsNaN(v) || math.IsInf(v, 0) || v < 0 {
			return nil, invalid("metric samples must be finite and ≥ 0")
		}
	}
	if s.ActiveJobs < 0 || s.RAMAvailable < 0 {
		return nil, invalid("active_jobs and ram_available must be ≥ 0")
	}
	if n.deleted {
		return nil, nil
	}
	return []Event{NodeMetricsSampled{NodeID: n.id, Sample: s, At: now}}, nil
}

// Ban keeps the node from new jobs; banning twice records nothing.
func (n *Node) Ban(by, reason string, now time.Time) ([]Event, error) {
	if !n.Exists() {
		return nil, notFound("node is not registered")
	}
	if n.deleted {
		return nil, precondition("node %s was deleted", n.id)
	}
	if n.banned {
		return nil, nil
	}
	return []Event{NodeBanned{NodeID: n.id, Reason: reason, By: by, At: now}}, nil
}

// Unban lifts a ban; lifting none records nothing.
func (n *Node) Unban(by string, now time.Time) ([]Event, error) {
	if !n.Exists() {
		return nil, notFound("node is not registered")
	}
	if n.deleted {
		return nil, precondition("node %s was deleted; a deleted node stays deleted (its owner may register a new one)", n.id)
	}
	if !n.banned {
		return nil, nil
	}
	return []Event{NodeUnbanned{NodeID: n.id, By: by, At: now}}, nil
}

// Delete removes the node from discovery and lists for good. It must hold
// no job (take them back first); deleting again records nothing.
func (n *Node) Delete(by, reason string, now time.Time) ([]Event, error) {
	switch {
	case !n.Exists():
		return nil, notFound("node is not registered")
	case n.deleted:
		return nil, nil
	case len(n.active) > 0:
		return nil, precondition("node %s still holds %d job(s); they go back to the queue first", n.id, len(n.active))
	}
	return []Event{NodeDeleted{NodeID: n.id, Reason: reason, By: by, At: now}}, nil
}
