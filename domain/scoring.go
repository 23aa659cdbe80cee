package domain

// Candidate is a node as the scheduler sees it.
type Candidate struct {
	NodeID       string
	Online       bool
	Banned       bool
	Devices      []Device
	CPUCores     int32
	RAMTotal     int64
	RAMAvailable int64
	Reputation   float64
	ActiveJobs   int
}

// Requirements is what a job needs from a node.
type Requirements struct {
	Device DeviceType
	Memory int64 // bytes
}

// NodeLimits is what a node must keep to be given a job: fewer than
// MaxJobsPerNode active jobs and a reputation of at least MinReputation.
type NodeLimits struct {
	MaxJobsPerNode int
	MinReputation  float64
}

// Infeasibility reasons, for explanations and metrics.
const (
	ReasonOffline    = "offline"
	ReasonBanned     = "banned"
	ReasonDevice     = "no matching device"
	ReasonMemory     = "not enough memory"
	ReasonCapacity   = "at capacity"
	ReasonReputation = "reputation below floor"
)

// Feasible returns "" if the node can take the job, else the reason.
func Feasible(r Requirements, c *Candidate, p NodeLimits) string {
	switch {
	case !c.Online:
		return ReasonOffline
	case c.Banned:
		return ReasonBanned
	case c.ActiveJobs >= p.MaxJobsPerNode:
		return ReasonCapacity
	case !(c.Reputation >= p.MinReputation): // NaN never passes
		return ReasonReputation
	}
	total, _, ok := c.memoryFor(r.Device)
	if !ok {
		return ReasonDevice
	}
	if r.Memory > total {
		return ReasonMemory
	}
	return ""
}

// memoryFor returns the largest total and the largest available memory
// among the node's devices of type d (VRAM for GPUs, RAM for CPU), and
// whether it has such a device. DeviceAny considers every device and RAM.
func (c *Candidate) memoryFor(d DeviceType) (total, avail int64, ok bool) {
	for _, dev := range c.Devices {
		if d != DeviceAny && dev.Type != d {
			continue
		}
		t, a := dev.VRAMTotal, dev.VRAMAvailable
		if dev.Type == DeviceCPU || t == 0 {
			t, a = dev.MemoryTotal, dev.MemoryAvailable
		}
		total, avail, ok = max(total, t), max(avail, a), true
	}
	if (d == DeviceCPU || d == DeviceAny) && c.CPUCores > 0 {
		total, avail, ok = max(total, c.RAMTotal), max(avail, c.RAMAvailable), true
	}
	return total, avail, ok
}

// Score ranks a feasible node for a job (the seed formula): +100 when the
// node has the required device, +50 when the job fits in available memory,
// +30 × reputation, −10 per active job. Higher is better.
func Score(r Requirements, c *Candidate) float64 {
	var score float64
	_, avail, ok := c.memoryFor(r.Device)
	if ok {
		score += 100
		if avail >= r.Memory {
			score += 50
		}
	}
	score += c.Reputation * 30
	score -= float64(c.ActiveJobs) * 10
	return score
}
