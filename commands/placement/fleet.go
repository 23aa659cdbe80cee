package placement

import (
	"fmt"
	"math"

	"github.com/cyxwiz/central-server/domain"
)

// DefaultLimit is how many feasible nodes Place scores before it stops
// looking, unless [Fleet.SetLimit] says otherwise.
//
// Nomad scores ⌈log2 n⌉ nodes (at least 2) because its ranking (bin
// packing, affinities, spread) is expensive. The seed score costs tens of
// nanoseconds a node, so we can afford a larger sample and buy quality with
// it: the best of 64 random feasible nodes is in the top 5% of the fleet
// with probability 1−0.95⁶⁴ ≈ 96% (top 10%: 99.9%). A constant also keeps
// the promise that fleets of up to 64 nodes are scored completely, where
// 4⌈log2 n⌉ would already sample a 40-node fleet, and it only exceeds 64
// beyond 65,536 nodes anyway. The feasible part of a placement thus costs a
// few microseconds whatever the fleet size.
const DefaultLimit = 64

// numDevices is the number of device types the index knows (DeviceAny
// through DeviceVulkan); a job asking for any other type scans the fleet.
const numDevices = int(domain.DeviceVulkan) + 1

// Fleet is the scheduler's snapshot of candidate nodes for one pass, indexed
// by device type. Capacity taken during the pass ([Fleet.Take]) is seen by
// the next placement. A Fleet is not safe for concurrent use.
type Fleet struct {
	nodes    []domain.Candidate
	byDevice [numDevices][]int32 // nodes that have a device of the type
	has      []uint8             // has[i] bit d: node i is in byDevice[d]
	all      []int32             // every node, for device types the index does not know
	limit    int                 // feasible nodes scored per placement; math.MaxInt: all
	failed   [numDevices + 1]failure
}

// failure remembers the last placement that found no node, per device
// slot. Feasibility is monotone in memory, so while it stands, a job with
// the same device and policy and at least as much memory fails for the
// very same reason on every node, and the scan need not be repeated: a full
// fleet answers a blocked queue in O(1). Take and Release keep it exact by
// recounting the one node they change, and drop it when that node becomes
// feasible.
type failure struct {
	ok     bool
	device domain.DeviceType
	memory int64
	policy domain.NodeLimits
	stats  Stats
}

// NewFleet builds a fleet from a snapshot. The candidates are copied (the
// Devices slices are shared and never written), so the snapshot is not
// changed by [Fleet.Take]. The limit is [DefaultLimit].
func NewFleet(snapshot []domain.Candidate) *Fleet {
	if int64(len(snapshot)) > math.MaxInt32 {
		panic(fmt.Sprintf("placement: %d nodes do not fit the index", len(snapshot)))
	}
	n := len(snapshot)
	f := &Fleet{nodes: make([]domain.Candidate, n), has: make([]uint8, n), all: make([]int32, n), limit: DefaultLimit}
	copy(f.nodes, snapshot)
	for i := range f.nodes {
		f.all[i] = int32(i)
		for d := range numDevices {
			if hasDevice(&f.nodes[i], domain.DeviceType(d)) {
				f.byDevice[d] = append(f.byDevice[d], int32(i))
				f.has[i] |= 1 << d
			}
		}
	}
	return f
}

// hasDevice reports whether c has a device of type d in domain.Feasible's
// sense. It asks Feasible itself about an idealised copy of the node
// (online, idle, reputable, a job needing no memory), so the index cannot
// drift from the domain's rules: any answer but ReasonDevice keeps the node.
func hasDevice(c *domain.Candidate, d domain.DeviceType) bool {
	probe := *c
	probe.Online, probe.Banned, probe.ActiveJobs, probe.Reputation = true, false, 0, 0
	return domain.Feasible(domain.Requirements{Device: d}, &probe, domain.NodeLimits{MaxJobsPerNode: 1}) != domain.ReasonDevice
}

// SetLimit sets how many feasible nodes a placement scores before it stops
// looking: 0 restores [DefaultLimit], a negative limit scores every node.
func (f *Fleet) SetLimit(n int) {
	switch {
	case n == 0:
		f.limit = DefaultLimit
	case n < 0:
		f.limit = math.MaxInt
	default:
		f.limit = n
	}
}

// Len returns the number of nodes in the fleet.
func (f *Fleet) Len() int { return len(f.nodes) }

// Node returns the fleet's current view of node i (ActiveJobs includes the
// capacity taken in this pass).
func (f *Fleet) Node(i int) domain.Candidate { return f.nodes[i] }

// Take records that node i got a job in this pass: ActiveJobs++. Call it
// once the assignment is recorded, so the next placement sees it.
func (f *Fleet) Take(i int) { f.setActive(i, f.nodes[i].ActiveJobs+1) }

// Release undoes a Take, for an assignment that could not be recorded.
func (f *Fleet) Release(i int) {
	if f.nodes[i].ActiveJobs > 0 {
		f.setActive(i, f.nodes[i].ActiveJobs-1)
	}
}

// setActive changes node i's job count and keeps the failure memos exact.
func (f *Fleet) setActive(i, active int) {
	c := &f.nodes[i]
	var before [len(f.failed)]string
	for s := range f.failed {
		if m := &f.failed[s]; m.ok && f.visits(s, i) {
			before[s] = domain.Feasible(domain.Requirements{Device: m.device, Memory: m.memory}, c, m.policy)
		}
	}
	c.ActiveJobs = active
	for s := range f.failed {
		m := &f.failed[s]
		if !m.ok || !f.visits(s, i) {
			continue // a node the slot does not visit stays "no matching device"
		}
		after := domain.Feasible(domain.Requirements{Device: m.device, Memory: m.memory}, c, m.policy)
		if after == "" {
			m.ok = false // the node could take the job now
			continue
		}
		m.stats.Filtered.add(before[s], -1)
		m.stats.Filtered.add(after, 1)
	}
}

// visits reports whether a placement for device slot s visits node i.
func (f *Fleet) visits(s, i int) bool { return s == numDevices || f.has[i]&(1<<s) != 0 }

// candidates returns the nodes worth visiting for device d and the slot of
// its failure memo.
func (f *Fleet) candidates(d domain.DeviceType) (slot int, nodes []int32) {
	if d >= 0 && int(d) < numDevices {
		return int(d), f.byDevice[d]
	}
	return numDevices, f.all
}
