package projections

import (
	"cmp"
	"strings"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

// HasDevice reports whether s offers a device of type d. DeviceAny needs
// nothing; a CPU is a CPU device or CPU cores.
func HasDevice(s *domain.NodeSpec, d domain.DeviceType) bool {
	if d == domain.DeviceAny || (d == domain.DeviceCPU && s.CPUCores > 0) {
		return true
	}
	for i := range s.Devices {
		if s.Devices[i].Type == d {
			return true
		}
	}
	return false
}

// DeviceMemory returns the total memory of s's largest device of type d,
// as the scheduler's feasibility check counts it: VRAM for a GPU (its
// memory_total when it reports no VRAM), RAM for a CPU. DeviceAny takes
// the largest device or RAM. ok is false when s has no such device.
func DeviceMemory(s *domain.NodeSpec, d domain.DeviceType) (total int64, ok bool) {
	for i := range s.Devices {
		dev := &s.Devices[i]
		if d != domain.DeviceAny && dev.Type != d {
			continue
		}
		t := dev.VRAMTotal
		if dev.Type == domain.DeviceCPU || t == 0 {
			t = dev.MemoryTotal
		}
		if !ok || t > total {
			total, ok = t, true
		}
	}
	if (d == domain.DeviceCPU || d == domain.DeviceAny) && s.CPUCores > 0 && (!ok || s.RAMTotal > total) {
		total, ok = s.RAMTotal, true
	}
	return total, ok
}

// MaxVRAM returns the largest VRAM of s's devices of type d (any type for
// DeviceAny).
func MaxVRAM(s *domain.NodeSpec, d domain.DeviceType) int64 {
	var m int64
	for i := range s.Devices {
		if d == domain.DeviceAny || s.Devices[i].Type == d {
			m = max(m, s.Devices[i].VRAMTotal)
		}
	}
	return m
}

func regionIn(region string, list []string) bool {
	for _, r := range list {
		if strings.EqualFold(region, r) {
			return true
		}
	}
	return false
}

// Matches reports whether f selects v.
func (f *NodeListFilter) Matches(v *NodeView) bool {
	p := v.Spec.Pricing.PricePerHour
	switch {
	case f.OnlineOnly && !v.Online,
		f.Owner != "" && v.Owner != f.Owner,
		!HasDevice(&v.Spec, f.Device),
		f.Region != "" && !strings.EqualFold(v.Spec.Region, f.Region),
		f.MinPrice > 0 && p < f.MinPrice,
		f.MaxPrice > 0 && p > f.MaxPrice:
		return false
	}
	return true
}

// Matches reports whether f finds v: online, not banned, and within every
// bound.
func (f *NodeFindFilter) Matches(v *NodeView) bool {
	s := &v.Spec
	if !v.Online || v.Banned || !HasDevice(s, f.Device) {
		return false
	}
	if f.MinMemory > 0 {
		if mem, ok := DeviceMemory(s, f.Device); !ok || mem < f.MinMemory {
			return false
		}
	}
	switch {
	case v.Reputation < f.MinReputation,
		len(f.AllowedRegions) > 0 && !regionIn(s.Region, f.AllowedRegions),
		regionIn(s.Region, f.BlockedRegions),
		f.MaxPricePerHour > 0 && s.Pricing.PricePerHour > f.MaxPricePerHour,
		f.MaxPriceUSD > 0 && s.Pricing.USDEquivalent > f.MaxPriceUSD,
		f.RequireFreeTier && !s.Pricing.FreeTierAvailable,
		f.MinVRAM > 0 && MaxVRAM(s, f.Device) < f.MinVRAM,
		s.ComputeScore < f.MinComputeScore,
		s.StakedAmount < f.MinStake:
		return false
	}
	return true
}

// Preference ranks v by f's soft wishes: 2 for the preferred region, 1
// for the preferred billing model. Higher ranks first.
func (f *NodeFindFilter) Preference(v *NodeView) int {
	p := 0
	if f.PreferredRegion != "" && strings.EqualFold(v.Spec.Region, f.PreferredRegion) {
		p += 2
	}
	if f.PreferredBilling != nil && v.Spec.Pricing.BillingModel == *f.PreferredBilling {
		p++
	}
	return p
}

// NodeCursor is a node's place in an order: its sort keys and its id.
type NodeCursor struct {
	K1, K2 float64
	ID     string
}

// NodeOrder is a total order of nodes: by the sort's keys, ascending or
// descending, then by id ascending.
type NodeOrder struct {
	Sort       NodeSort
	Descending bool
	Now        time.Time // uptime is computed at Now (availability)
	MaxJobs    int       // slots per node (availability)
}

// Key returns v's cursor in o.
func (o NodeOrder) Key(v *NodeView) NodeCursor {
	c := NodeCursor{ID: v.ID}
	switch o.Sort {
	case SortByPerformance:
		c.K1 = v.Spec.ComputeScore
	case SortByReputation:
		c.K1 = v.Reputation
	case SortByAvailability:
		c.K1, c.K2 = float64(v.FreeSlots(o.MaxJobs)), v.Uptime(o.Now)
	default:
		c.K1 = v.Spec.Pricing.PricePerHour
	}
	return c
}

// Compare orders two cursors of o: negative when a comes first.
func (o NodeOrder) Compare(a, b NodeCursor) int {
	c := cmp.Compare(a.K1, b.K1)
	if c == 0 {
		c = cmp.Compare(a.K2, b.K2)
	}
	if o.Descending {
		c = -c
	}
	if c == 0 {
		c = strings.Compare(a.ID, b.ID)
	}
	return c
}

// FindOrder is the best-first order FindNodes uses for sort.
func FindOrder(sort NodeSort, now time.Time, maxJobs int) NodeOrder {
	return NodeOrder{Sort: sort, Descending: sort != SortByPrice, Now: now, MaxJobs: maxJobs}
}
