package domain_test

import (
	"testing"

	"github.com/cyxwiz/central-server/domain"
)

const gib = int64(1) << 30

// gpuBox is an online CUDA node: one 24 GiB GPU (20 GiB free), 16 cores,
// 64 GiB RAM (32 GiB free), reputation 0.5, one active job.
func gpuBox(f ...func(c *domain.Candidate)) *domain.Candidate {
	c := &domain.Candidate{
		NodeID: nodeA, Online: true,
		Devices:  []domain.Device{{Type: domain.DeviceCUDA, VRAMTotal: 24 * gib, VRAMAvailable: 20 * gib, MemoryTotal: 2 * gib}},
		CPUCores: 16, RAMTotal: 64 * gib, RAMAvailable: 32 * gib,
		Reputation: 0.5, ActiveJobs: 1,
	}
	for _, fn := range f {
		fn(c)
	}
	return c
}

func cuda(mem int64) domain.Requirements {
	return domain.Requirements{Device: domain.DeviceCUDA, Memory: mem}
}

func req(d domain.DeviceType, mem int64) domain.Requirements {
	return domain.Requirements{Device: d, Memory: mem}
}

func TestFeasible(t *testing.T) {
	policy := domain.NodeLimits{MaxJobsPerNode: 4, MinReputation: 0.3}
	tests := []struct {
		name string
		r    domain.Requirements
		c    *domain.Candidate
		want string
	}{
		{"feasible", cuda(4 * gib), gpuBox(), ""},
		{"offline", cuda(4 * gib), gpuBox(func(c *domain.Candidate) { c.Online = false }), domain.ReasonOffline},
		{"offline beats banned", cuda(4 * gib), gpuBox(func(c *domain.Candidate) { c.Online, c.Banned = false, true }), domain.ReasonOffline},
		{"banned", cuda(4 * gib), gpuBox(func(c *domain.Candidate) { c.Banned = true }), domain.ReasonBanned},
		{"at capacity", cuda(4 * gib), gpuBox(func(c *domain.Candidate) { c.ActiveJobs = 4 }), domain.ReasonCapacity},
		{"over capacity", cuda(4 * gib), gpuBox(func(c *domain.Candidate) { c.ActiveJobs = 9 }), domain.ReasonCapacity},
		{"one slot left", cuda(4 * gib), gpuBox(func(c *domain.Candidate) { c.ActiveJobs = 3 }), ""},
		{"below reputation floor", cuda(4 * gib), gpuBox(func(c *domain.Candidate) { c.Reputation = 0.25 }), domain.ReasonReputation},
		{"at reputation floor", cuda(4 * gib), gpuBox(func(c *domain.Candidate) { c.Reputation = 0.3 }), ""},
		{"no matching device", req(domain.DeviceMetal, 0), gpuBox(), domain.ReasonDevice},
		{"no devices at all", cuda(0), gpuBox(func(c *domain.Candidate) { c.Devices = nil }), domain.ReasonDevice},
		{"VRAM total exceeded", cuda(24*gib + 1), gpuBox(), domain.ReasonMemory},
		{"VRAM total exactly", cuda(24 * gib), gpuBox(), ""},
		{"over available but within total", cuda(22 * gib), gpuBox(), ""},
		{"largest device of the type counts", cuda(16 * gib), gpuBox(func(c *domain.Candidate) {
			c.Devices = []domain.Device{{Type: domain.DeviceCUDA, VRAMTotal: 8 * gib}, {Type: domain.DeviceCUDA, VRAMTotal: 24 * gib}}
		}), ""},
		{"device without VRAM uses its memory", req(domain.DeviceMetal, 12*gib), gpuBox(func(c *domain.Candidate) {
			c.Devices = []domain.Device{{Type: domain.DeviceMetal, MemoryTotal: 16 * gib}}
		}), ""},
		{"device without VRAM: memory exceeded", req(domain.DeviceMetal, 17*gib), gpuBox(func(c *domain.Candidate) {
			c.Devices = []domain.Device{{Type: domain.DeviceMetal, MemoryTotal: 16 * gib}}
		}), domain.ReasonMemory},

		{"CPU through RAM", req(domain.DeviceCPU, 64*gib), gpuBox(), ""},
		{"CPU RAM exceeded", req(domain.DeviceCPU, 64*gib+1), gpuBox(), domain.ReasonMemory},
		{"CPU without cores or CPU device", req(domain.DeviceCPU, 0), gpuBox(func(c *domain.Candidate) { c.CPUCores = 0 }), domain.ReasonDevice},
		{"CPU device uses memory, not VRAM", req(domain.DeviceCPU, 8*gib), gpuBox(func(c *domain.Candidate) {
			c.CPUCores = 0
			c.Devices = []domain.Device{{Type: domain.DeviceCPU, MemoryTotal: 8 * gib, VRAMTotal: 99 * gib}}
		}), ""},
		{"CPU device memory exceeded", req(domain.DeviceCPU, 8*gib+1), gpuBox(func(c *domain.Candidate) {
			c.CPUCores = 0
			c.Devices = []domain.Device{{Type: domain.DeviceCPU, MemoryTotal: 8 * gib, VRAMTotal: 99 * gib}}
		}), domain.ReasonMemory},
		{"CPU: RAM beats a smaller CPU device", req(domain.DeviceCPU, 64*gib), gpuBox(func(c *domain.Candidate) {
			c.Devices = []domain.Device{{Type: domain.DeviceCPU, MemoryTotal: 8 * gib}}
		}), ""},

		{"any: RAM larger than VRAM", req(domain.DeviceAny, 64*gib), gpuBox(), ""},
		{"any: over RAM", req(domain.DeviceAny, 64*gib+1), gpuBox(), domain.ReasonMemory},
		{"any: GPU larger than RAM", req(domain.DeviceAny, 24*gib), gpuBox(func(c *domain.Candidate) { c.RAMTotal = 16 * gib }), ""},
		{"any: GPU only, no cores", req(domain.DeviceAny, 24*gib), gpuBox(func(c *domain.Candidate) { c.CPUCores = 0 }), ""},
		{"any: nothing to run on", req(domain.DeviceAny, 0), gpuBox(func(c *domain.Candidate) { c.CPUCores, c.Devices = 0, nil }), domain.ReasonDevice},
		{"any: cores only", req(domain.DeviceAny, 1*gib), gpuBox(func(c *domain.Candidate) { c.Devices = nil }), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.Feasible(tt.r, tt.c, policy); got != tt.want {
				t.Fatalf("Feasible = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name string
		r    domain.Requirements
		c    *domain.Candidate
		want float64
	}{
		// +100 device, +50 fits available, +30×0.5, −10×1
		{"device and memory fit", cuda(4 * gib), gpuBox(), 155},
		{"fits exactly the available VRAM", cuda(20 * gib), gpuBox(), 155},
		{"over available VRAM", cuda(20*gib + 1), gpuBox(), 105},
		{"no matching device", req(domain.DeviceMetal, 0), gpuBox(), 5},
		{"best case", cuda(20 * gib), gpuBox(func(c *domain.Candidate) { c.Reputation, c.ActiveJobs = 1, 0 }), 180},
		{"worst case", req(domain.DeviceMetal, 0), gpuBox(func(c *domain.Candidate) { c.Reputation, c.ActiveJobs = 0, 3 }), -30},
		{"reputation 0.75, two jobs", cuda(1 * gib), gpuBox(func(c *domain.Candidate) { c.Reputation, c.ActiveJobs = 0.75, 2 }), 152.5},
		{"CPU through available RAM", req(domain.DeviceCPU, 32*gib), gpuBox(), 155},
		{"CPU over available RAM", req(domain.DeviceCPU, 32*gib+1), gpuBox(), 105},
		{"CPU without cores", req(domain.DeviceCPU, 0), gpuBox(func(c *domain.Candidate) { c.CPUCores = 0 }), 5},
		{"any takes RAM (largest)", req(domain.DeviceAny, 32*gib), gpuBox(), 155},
		{"any over available RAM", req(domain.DeviceAny, 32*gib+1), gpuBox(), 105},
		{"any takes GPU when larger", req(domain.DeviceAny, 20*gib), gpuBox(func(c *domain.Candidate) { c.RAMTotal, c.RAMAvailable = 16*gib, 16*gib }), 155},
		{"any with nothing", req(domain.DeviceAny, 0), gpuBox(func(c *domain.Candidate) { c.CPUCores, c.Devices = 0, nil }), 5},
		{"zero memory requirement fits", cuda(0), gpuBox(func(c *domain.Candidate) { c.Devices[0].VRAMAvailable = 0 }), 155},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := domain.Score(tt.r, tt.c); got != tt.want {
				t.Fatalf("Score = %v, want %v", got, tt.want)
			}
		})
	}

	t.Run("each active job costs 10", func(t *testing.T) {
		r := cuda(gib)
		for active := range 5 {
			got := domain.Score(r, gpuBox(func(c *domain.Candidate) { c.ActiveJobs = active }))
			if want := 165 - 10*float64(active); got != want {
				t.Fatalf("active %d: Score = %v, want %v", active, got, want)
			}
		}
	})
}
