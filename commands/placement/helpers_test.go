package placement

import (
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

const gib = int64(1) << 30

var policy = domain.NodeLimits{MaxJobsPerNode: 5, MinReputation: 0.3}

func cpu(id string, ramGiB int64, rep float64) domain.Candidate {
	return domain.Candidate{NodeID: id, Online: true, CPUCores: 16, RAMTotal: ramGiB * gib, RAMAvailable: ramGiB * gib, Reputation: rep}
}

func gpu(id string, t domain.DeviceType, vramGiB int64, rep float64) domain.Candidate {
	c := cpu(id, 64, rep)
	c.Devices = []domain.Device{{Type: t, VRAMTotal: vramGiB * gib, VRAMAvailable: vramGiB * gib}}
	return c
}

func with(c domain.Candidate, f func(*domain.Candidate)) domain.Candidate {
	f(&c)
	return c
}

func req(d domain.DeviceType, memGiB int64) domain.Requirements {
	return domain.Requirements{Device: d, Memory: memGiB * gib}
}

// snapshot generates a realistic heterogeneous fleet: CPU boxes, CUDA
// servers with one to four GPUs, Apple machines (Metal, unified memory), a
// few OpenCL/Vulkan cards; varied RAM/VRAM and reputations; some nodes
// offline, banned, below the reputation floor, busy or full.
func snapshot(rng *rand.Rand, n int, p domain.NodeLimits) []domain.Candidate {
	vrams := []int64{8, 12, 16, 24, 40, 48, 80}
	rams := []int64{8, 16, 32, 64, 128, 256}
	out := make([]domain.Candidate, n)
	for i := range out {
		ram := rams[rng.IntN(len(rams))] * gib
		c := domain.Candidate{
			NodeID:       fmt.Sprintf("node-%05d", i),
			Online:       rng.Float64() > 0.1,
			Banned:       rng.Float64() < 0.02,
			CPUCores:     int32(4 << rng.IntN(5)),
			RAMTotal:     ram,
			RAMAvailable: ram * int64(rng.IntN(101)) / 100,
			Reputation:   0.2 + 0.8*rng.Float64(),
			ActiveJobs:   rng.IntN(p.MaxJobsPerNode + 1),
		}
		switch k := rng.Float64(); {
		case k < 0.5: // CPU only
		case k < 0.8: // CUDA
			for range 1 + rng.IntN(4) {
				v := vrams[rng.IntN(len(vrams))] * gib
				c.Devices = append(c.Devices, domain.Device{Type: domain.DeviceCUDA, VRAMTotal: v, VRAMAvailable: v * int64(rng.IntN(101)) / 100})
			}
		case k < 0.95: // Metal: unified memory, no VRAM figure
			c.Devices = []domain.Device{{Type: domain.DeviceMetal, MemoryTotal: ram, MemoryAvailable: c.RAMAvailable}}
		default:
			t := domain.DeviceOpenCL
			if rng.IntN(2) == 0 {
				t = domain.DeviceVulkan
			}
			v := vrams[rng.IntN(3)] * gib
			c.Devices = []domain.Device{{Type: t, VRAMTotal: v, VRAMAvailable: v}}
		}
		out[i] = c
	}
	return out
}

// queue generates n pending jobs of mixed priorities, devices and sizes.
func queue(rng *rand.Rand, n int) Queue {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	devs := []domain.DeviceType{
		domain.DeviceCPU, domain.DeviceCPU, domain.DeviceCPU, domain.DeviceCPU,
		domain.DeviceCUDA, domain.DeviceCUDA, domain.DeviceCUDA,
		domain.DeviceMetal, domain.DeviceAny, domain.DeviceVulkan,
	}
	mems := []int64{1, 2, 4, 8, 16, 24, 32, 64}
	q := make(Queue, n)
	for i := range q {
		q[i] = domain.QueuedJob{
			JobID:       fmt.Sprintf("job-%06d", i),
			Priority:    domain.Priority(rng.IntN(4)),
			SubmittedAt: t0.Add(time.Duration(rng.IntN(3600)) * time.Second),
			Req:         req(devs[rng.IntN(len(devs))], mems[rng.IntN(len(mems))]),
		}
	}
	return q
}

// best is the reference: the highest score over every feasible node.
func best(f *Fleet, r domain.Requirements, p domain.NodeLimits) (float64, bool) {
	var top float64
	found := false
	for i := range f.Len() {
		c := f.Node(i)
		if domain.Feasible(r, &c, p) != "" {
			continue
		}
		if s := domain.Score(r, &c); !found || s > top {
			top, found = s, true
		}
	}
	return top, found
}
