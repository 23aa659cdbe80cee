package domain

// DeviceType is a compute device family; values match the wire enum.
type DeviceType int

const (
	DeviceAny DeviceType = iota // DEVICE_UNKNOWN: no requirement
	DeviceCPU
	DeviceCUDA
	DeviceOpenCL
	DeviceMetal
	DeviceVulkan
)

// Valid reports whether d is a known device type.
func (d DeviceType) Valid() bool { return d >= DeviceAny && d <= DeviceVulkan }

func (d DeviceType) String() string {
	switch d {
	case DeviceCPU:
		return "cpu"
	case DeviceCUDA:
		return "cuda"
	case DeviceOpenCL:
		return "opencl"
	case DeviceMetal:
		return "metal"
	case DeviceVulkan:
		return "vulkan"
	default:
		return "any"
	}
}

// JobType is the kind of work; values match the wire enum.
type JobType int

const (
	JobTypeUnknown JobType = iota
	JobTypeTraining
	JobTypeInference
	JobTypeEvaluation
	JobTypePreprocessing
)

// Valid reports whether t is a known job type.
func (t JobType) Valid() bool { return t >= JobTypeUnknown && t <= JobTypePreprocessing }

func (t JobType) String() string {
	switch t {
	case JobTypeTraining:
		return "training"
	case JobTypeInference:
		return "inference"
	case JobTypeEvaluation:
		return "evaluation"
	case JobTypePreprocessing:
		return "preprocessing"
	default:
		return "unknown"
	}
}

// Priority orders the queue: Critical first; values match the wire enum.
type Priority int

const (
	PriorityLow Priority = iota
	PriorityNormal
	PriorityHigh
	PriorityCritical
)

// Valid reports whether p is a known priority.
func (p Priority) Valid() bool { return p >= PriorityLow && p <= PriorityCritical }

func (p Priority) String() string {
	switch p {
	case PriorityNormal:
		return "normal"
	case PriorityHigh:
		return "high"
	case PriorityCritical:
		return "critical"
	default:
		return "low"
	}
}
