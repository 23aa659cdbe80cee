package placement

import (
	"errors"
	"math"
	"math/rand/v2"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/cyxwiz/central-server/domain"
)

func TestBestScoreWinsOnSmallFleets(t *testing.T) {
	busy := func(k int) func(*domain.Candidate) { return func(c *domain.Candidate) { c.ActiveJobs = k } }
	tests := []struct {
		name  string
		nodes []domain.Candidate
		req   domain.Requirements
		want  string
	}{
		{"higher reputation", []domain.Candidate{
			gpu("a", domain.DeviceCUDA, 24, 0.5), gpu("b", domain.DeviceCUDA, 24, 0.9), gpu("c", domain.DeviceCUDA, 24, 0.7),
		}, req(domain.DeviceCUDA, 8), "b"},
		{"fewer active jobs beat a better reputation", []domain.Candidate{
			with(gpu("a", domain.DeviceCUDA, 24, 0.9), busy(2)), with(gpu("b", domain.DeviceCUDA, 24, 0.6), busy(1)),
		}, req(domain.DeviceCUDA, 8), "b"},
		{"fits in available memory", []domain.Candidate{
			with(gpu("a", domain.DeviceCUDA, 24, 1.0), func(c *domain.Candidate) { c.Devices[0].VRAMAvailable = 2 * gib }),
			gpu("b", domain.DeviceCUDA, 24, 0.4),
		}, req(domain.DeviceCUDA, 8), "b"},
		{"only the matching device", []domain.Candidate{
			cpu("a", 256, 1), cpu("b", 256, 1), gpu("c", domain.DeviceMetal, 32, 0.4), cpu("d", 256, 1),
		}, req(domain.DeviceMetal, 8), "c"},
		{"only enough memory", []domain.Candidate{
			gpu("a", domain.DeviceCUDA, 16, 1), gpu("b", domain.DeviceCUDA, 80, 0.5), gpu("c", domain.DeviceCUDA, 24, 1),
		}, req(domain.DeviceCUDA, 40), "b"},
		{"any device", []domain.Candidate{
			cpu("a", 16, 0.5), gpu("b", domain.DeviceVulkan, 8, 0.95), cpu("c", 16, 0.9),
		}, req(domain.DeviceAny, 4), "b"},
		{"cpu job on a gpu server", []domain.Candidate{
			with(cpu("a", 512, 0.5), busy(4)), gpu("b", domain.DeviceCUDA, 8, 0.8),
		}, req(domain.DeviceCPU, 32), "b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFleet(tt.nodes)
			for seed := range uint64(20) { // every visiting order gives the same answer
				got, err := f.Place(tt.req, policy, rand.New(rand.NewPCG(seed, 1)))
				if err != nil {
					t.Fatal(err)
				}
				if got.NodeID != tt.want || got.Index < 0 || f.Node(got.Index).NodeID != tt.want {
					t.Fatalf("seed %d: got %s (#%d, %.1f), want %s", seed, got.NodeID, got.Index, got.Score, tt.want)
				}
				c := f.Node(got.Index)
				if got.Score != domain.Score(tt.req, &c) || got.Stats.Scored+got.Stats.Filtered.Total() != len(tt.nodes) {
					t.Fatalf("seed %d: inconsistent %+v", seed, got)
				}
			}
		})
	}
}

// TestMatchesBruteForce compares Place with the reference (max score over
// every feasible node) on random small fleets, where nothing is sampled.
func TestMatchesBruteForce(t *testing.T) {
	rng := rand.New(rand.NewPCG(7, 7))
	jobs := queue(rng, 40)
	for trial := range 300 {
		f := NewFleet(snapshot(rng, 1+rng.IntN(DefaultLimit), policy))
		for _, j := range jobs {
			want, ok := best(f, j.Req, policy)
			got, err := f.Place(j.Req, policy, rng)
			if ok != (err == nil) || (ok && got.Score != want) {
				t.Fatalf("trial %d, %+v: got %+v, %v; want %.2f, %v", trial, j.Req, got, err, want, ok)
			}
			if ok {
				if got.Stats.Visited != got.Stats.Scored+got.Stats.Filtered.Total()-(f.Len()-len(f.candidatesFor(j.Req.Device))) {
					t.Fatalf("trial %d: counts do not add up: %+v", trial, got.Stats)
				}
				f.Take(got.Index)
			} else if np := asNoPlacement(t, err); np.Stats.Filtered.Total() != f.Len() {
				t.Fatalf("trial %d: %d filtered of %d", trial, np.Stats.Filtered.Total(), f.Len())
			}
		}
	}
}

func (f *Fleet) candidatesFor(d domain.DeviceType) []int32 { _, n := f.candidates(d); return n }

func asNoPlacement(t *testing.T, err error) *NoPlacement {
	t.Helper()
	var np *NoPlacement
	if !errors.As(err, &np) {
		t.Fatalf("want *NoPlacement, got %v", err)
	}
	return np
}

func TestEachReasonCounted(t *testing.T) {
	set := func(f func(*domain.Candidate)) func(*domain.Candidate) { return f }
	faults := []struct {
		reason string
		node   func(id string) domain.Candidate
	}{
		{domain.ReasonOffline, func(id string) domain.Candidate {
			return with(gpu(id, domain.DeviceCUDA, 24, 1), set(func(c *domain.Candidate) { c.Online = false }))
		}},
		{domain.ReasonBanned, func(id string) domain.Candidate {
			return with(gpu(id, domain.DeviceCUDA, 24, 1), set(func(c *domain.Candidate) { c.Banned = true }))
		}},
		{domain.ReasonCapacity, func(id string) domain.Candidate {
			return with(gpu(id, domain.DeviceCUDA, 24, 1), set(func(c *domain.Candidate) { c.ActiveJobs = policy.MaxJobsPerNode }))
		}},
		{domain.ReasonReputation, func(id string) domain.Candidate { return gpu(id, domain.DeviceCUDA, 24, 0.1) }},
		{domain.ReasonDevice, func(id string) domain.Candidate { return gpu(id, domain.DeviceMetal, 24, 1) }},
		{domain.ReasonMemory, func(id string) domain.Candidate { return gpu(id, domain.DeviceCUDA, 8, 1) }},
	}
	for _, withGood := range []bool{true, false} {
		for _, ft := range faults {
			name := ft.reason
			if !withGood {
				name += "/no node left"
			}
			t.Run(name, func(t *testing.T) {
				var nodes []domain.Candidate
				for i := range 3 {
					nodes = append(nodes, ft.node(string(rune('a'+i))))
				}
				if withGood {
					nodes = append(nodes, gpu("good", domain.DeviceCUDA, 24, 0.5))
				}
				got, err := NewFleet(nodes).Place(req(domain.DeviceCUDA, 16), policy, rand.New(rand.NewPCG(1, 2)))
				st := got.Stats
				if withGood {
					if err != nil || got.NodeID != "good" {
						t.Fatalf("got %+v, %v", got, err)
					}
				} else {
					np := asNoPlacement(t, err)
					st = np.Stats
					if want := "(of 3 nodes): 3 " + ft.reason; !strings.Contains(err.Error(), want) {
						t.Fatalf("error %q does not contain %q", err, want)
					}
				}
				want := Filtered{}
				want.add(ft.reason, 3)
				if st.Filtered != want || st.Filtered.Count(ft.reason) != 3 || st.Filtered.Total() != 3 {
					t.Fatalf("filtered %v, want %v", st.Filtered, want)
				}
			})
		}
	}
}

func TestNoPlacementMessage(t *testing.T) {
	nodes := []domain.Candidate{}
	for range 7 {
		nodes = append(nodes, with(gpu("x", domain.DeviceCUDA, 24, 1), func(c *domain.Candidate) { c.Online = false }))
	}
	for range 3 {
		nodes = append(nodes, cpu("y", 64, 1))
	}
	_, err := NewFleet(nodes).Place(req(domain.DeviceCUDA, 8), policy, rand.New(rand.NewPCG(1, 2)))
	want := "no node for a cuda job needing 8.0 GiB (of 10 nodes): 7 offline, 3 no matching device"
	if err == nil || err.Error() != want {
		t.Fatalf("got %q\nwant %q", err, want)
	}
	_, err = NewFleet(nil).Place(req(domain.DeviceAny, 0), policy, rand.New(rand.NewPCG(1, 2)))
	if err == nil || err.Error() != "no node for a any job: the fleet is empty" {
		t.Fatalf("got %q", err)
	}
	var all []string
	for r, n := range asNoPlacement(t, mustFail(t, nodes)).Stats.Filtered.All() {
		all = append(all, r, string(rune('0'+n)))
	}
	if !reflect.DeepEqual(all, []string{domain.ReasonOffline, "7", domain.ReasonDevice, "3"}) {
		t.Fatalf("All yields %v", all)
	}
}

func mustFail(t *testing.T, nodes []domain.Candidate) error {
	_, err := NewFleet(nodes).Place(req(domain.DeviceCUDA, 8), policy, rand.New(rand.NewPCG(1, 2)))
	if err == nil {
		t.Fatal("placed")
	}
	return err
}

func TestCapacityTakenWithinPass(t *testing.T) {
	tests := []struct {
		name       string
		nodes      int
		max, jobs  int
		wantPlaced int
	}{
		{"2 nodes × 3, 10 jobs", 2, 3, 10, 6},
		{"5 nodes × 1, 3 jobs", 5, 1, 3, 3},
		{"1 node × 5, 5 jobs", 1, 5, 5, 5},
		{"200 nodes × 2, 1000 jobs (sampled)", 200, 2, 1000, 400},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var nodes []domain.Candidate
			for i := range tt.nodes {
				nodes = append(nodes, gpu(string(rune('A'+i%26))+string(rune('a'+i/26)), domain.DeviceCUDA, 24, 0.9))
			}
			f := NewFleet(nodes)
			p := domain.NodeLimits{MaxJobsPerNode: tt.max}
			rng := rand.New(rand.NewPCG(3, 4))
			placed := 0
			for range tt.jobs {
				got, err := f.Place(req(domain.DeviceCUDA, 8), p, rng)
				if err != nil {
					if np := asNoPlacement(t, err); np.Stats.Filtered.Count(domain.ReasonCapacity) != tt.nodes {
						t.Fatalf("want every node at capacity: %v", err)
					}
					continue
				}
				f.Take(got.Index)
				placed++
			}
			if placed != tt.wantPlaced {
				t.Fatalf("placed %d, want %d", placed, tt.wantPlaced)
			}
			sum := 0
			for i := range f.Len() {
				n := f.Node(i).ActiveJobs
				if n > tt.max {
					t.Fatalf("node %d has %d jobs, max %d", i, n, tt.max)
				}
				sum += n
			}
			if sum != placed {
				t.Fatalf("%d jobs on the nodes, %d placed", sum, placed)
			}
			if nodes[0].ActiveJobs != 0 {
				t.Fatal("the snapshot was modified")
			}
		})
	}
}

func TestReleaseGivesCapacityBack(t *testing.T) {
	f := NewFleet([]domain.Candidate{gpu("a", domain.DeviceCUDA, 24, 1)})
	p := domain.NodeLimits{MaxJobsPerNode: 1}
	rng := rand.New(rand.NewPCG(1, 1))
	got, err := f.Place(req(domain.DeviceCUDA, 8), p, rng)
	if err != nil {
		t.Fatal(err)
	}
	f.Take(got.Index)
	if _, err := f.Place(req(domain.DeviceCUDA, 8), p, rng); err == nil {
		t.Fatal("placed on a full node")
	}
	f.Release(got.Index)
	if _, err := f.Place(req(domain.DeviceCUDA, 8), p, rng); err != nil {
		t.Fatalf("after Release: %v", err)
	}
}

// TestFailureMemo: on an unchanged fleet, a job that needs as much or more
// fails for the same reasons without a scan; any change of capacity, a
// smaller job, another device or another policy scans again.
func TestFailureMemo(t *testing.T) {
	nodes := []domain.Candidate{
		with(gpu("a", domain.DeviceCUDA, 24, 1), func(c *domain.Candidate) { c.ActiveJobs = 5 }),
		gpu("b", domain.DeviceCUDA, 16, 1),
		cpu("c", 64, 1),
	}
	f := NewFleet(nodes)
	rng := rand.New(rand.NewPCG(1, 1))
	place := func(r domain.Requirements, p domain.NodeLimits) (*NoPlacement, error) {
		_, err := f.Place(r, p, rng)
		if err == nil {
			return nil, nil
		}
		return asNoPlacement(t, err), err
	}
	first, _ := place(req(domain.DeviceCUDA, 20), policy)
	if first == nil || first.Cached {
		t.Fatalf("first failure: %+v", first)
	}
	for _, tt := range []struct {
		name   string
		req    domain.Requirements
		p      domain.NodeLimits
		cached bool
	}{
		{"same job", req(domain.DeviceCUDA, 20), policy, true},
		{"bigger job", req(domain.DeviceCUDA, 40), policy, true},
		{"other device", req(domain.DeviceMetal, 20), policy, false},
		{"other policy", req(domain.DeviceCUDA, 20), domain.NodeLimits{MaxJobsPerNode: 9}, false},
	} {
		np, err := place(tt.req, tt.p)
		if tt.cached && (np == nil || !np.Cached || np.Stats != first.Stats || np.Req != tt.req || !strings.Contains(err.Error(), tt.req.Device.String())) {
			t.Fatalf("%s: want the memo, got %+v", tt.name, np)
		}
		if !tt.cached && np != nil && np.Cached {
			t.Fatalf("%s: memo used", tt.name)
		}
	}
	if np, _ := place(req(domain.DeviceCUDA, 8), policy); np != nil {
		t.Fatalf("a smaller job fits b: %v", np)
	}
	f.Take(2) // c is not a CUDA node: the memo stands unchanged
	if np, _ := place(req(domain.DeviceCUDA, 20), policy); np == nil || !np.Cached || np.Stats != first.Stats {
		t.Fatalf("after Take(2): %+v", np)
	}
	for range policy.MaxJobsPerNode {
		f.Take(1) // b fills up: still infeasible, now for capacity
	}
	np, _ := place(req(domain.DeviceCUDA, 20), policy)
	if np == nil || !np.Cached || np.Stats.Filtered.Count(domain.ReasonCapacity) != 2 || np.Stats.Filtered.Count(domain.ReasonMemory) != 0 {
		t.Fatalf("after filling b: %+v", np)
	}
	f.Release(0) // a has 24 GiB and is no longer full: the memo must go
	if np, _ := place(req(domain.DeviceCUDA, 20), policy); np != nil {
		t.Fatalf("after Release: %v", np)
	}
}

// TestFailureMemoStaysExact drives random Takes, Releases and placements
// and checks every answer from the memo against a fresh scan of the same
// fleet.
func TestFailureMemoStaysExact(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	p := domain.NodeLimits{MaxJobsPerNode: 2, MinReputation: 0.3}
	f := NewFleet(snapshot(rng, 120, p))
	jobs := queue(rng, 50)
	var held []int
	cached := 0
	for step := range 20_000 {
		switch k := rng.IntN(10); {
		case k < 2 && len(held) > 0:
			h := rng.IntN(len(held))
			f.Release(held[h])
			held = slices.Delete(held, h, h+1)
		default:
			j := jobs[rng.IntN(len(jobs))]
			got, err := f.Place(j.Req, p, rng)
			if err == nil {
				f.Take(got.Index)
				held = append(held, got.Index)
				continue
			}
			np := asNoPlacement(t, err)
			if !np.Cached {
				continue
			}
			cached++
			fresh := make([]domain.Candidate, f.Len())
			for i := range fresh {
				fresh[i] = f.Node(i)
			}
			_, err = NewFleet(fresh).Place(j.Req, p, rng)
			if want := asNoPlacement(t, err); want.Stats != np.Stats {
				t.Fatalf("step %d, %+v: memo %+v, fresh scan %+v", step, j.Req, np.Stats, want.Stats)
			}
		}
	}
	if cached < 1000 {
		t.Fatalf("only %d answers from the memo", cached)
	}
}

// TestTiesSpread places many jobs on identical nodes without taking
// capacity, so every placement is a tie, and checks each node's share.
func TestTiesSpread(t *testing.T) {
	tests := []struct {
		name      string
		nodes     int
		rounds    int
		tolerance float64 // allowed relative deviation from the uniform share
	}{
		{"full scan, 8 nodes", 8, 80_000, 0.05},
		{"full scan, 64 nodes", 64, 128_000, 0.10},
		{"sampled, 1000 nodes", 1000, 400_000, 0.25},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := make([]domain.Candidate, tt.nodes)
			for i := range nodes {
				nodes[i] = gpu("n", domain.DeviceCUDA, 24, 0.8)
			}
			f := NewFleet(nodes)
			rng := rand.New(rand.NewPCG(42, 42))
			counts := make([]int, tt.nodes)
			for range tt.rounds {
				got, err := f.Place(req(domain.DeviceCUDA, 8), policy, rng)
				if err != nil {
					t.Fatal(err)
				}
				if want := min(tt.nodes, DefaultLimit); got.Stats.Ties != want {
					t.Fatalf("ties %d, want %d", got.Stats.Ties, want)
				}
				counts[got.Index]++
			}
			share := float64(tt.rounds) / float64(tt.nodes)
			for i, n := range counts {
				if math.Abs(float64(n)-share) > tt.tolerance*share {
					t.Fatalf("node %d chosen %d times, want %.0f ± %.0f%%", i, n, share, 100*tt.tolerance)
				}
			}
		})
	}
}

func TestSamplingLimit(t *testing.T) {
	const n = 10_000
	tests := []struct {
		name        string
		limit       int // passed to SetLimit
		infeasible  func(i int) bool
		wantScored  int
		maxVisited  int
		wantVisited int // exact when > 0
	}{
		{"default, all feasible", 0, nil, DefaultLimit, DefaultLimit, DefaultLimit},
		{"default, half feasible", 0, func(i int) bool { return i%2 == 0 }, DefaultLimit, n, 0},
		{"default, 10 feasible", 0, func(i int) bool { return i%1000 != 0 }, 10, n, n},
		{"limit 5", 5, nil, 5, 5, 5},
		{"no limit", -1, func(i int) bool { return i%3 == 0 }, n - (n+2)/3, n, n},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nodes := make([]domain.Candidate, n)
			for i := range nodes {
				nodes[i] = gpu("n", domain.DeviceCUDA, 24, float64(i%97)/97)
				if tt.infeasible != nil && tt.infeasible(i) {
					nodes[i].Online = false
				}
			}
			f := NewFleet(nodes)
			f.SetLimit(tt.limit)
			p := domain.NodeLimits{MaxJobsPerNode: 5}
			rng := rand.New(rand.NewPCG(5, 6))
			seen := map[int]bool{}
			for range 200 {
				got, err := f.Place(req(domain.DeviceCUDA, 8), p, rng)
				if err != nil {
					t.Fatal(err)
				}
				st := got.Stats
				if st.Scored != tt.wantScored || st.Visited > tt.maxVisited || (tt.wantVisited > 0 && st.Visited != tt.wantVisited) {
					t.Fatalf("scored %d visited %d; want scored %d, visited ≤ %d (= %d)", st.Scored, st.Visited, tt.wantScored, tt.maxVisited, tt.wantVisited)
				}
				if st.Visited != st.Scored+st.Filtered.Total() {
					t.Fatalf("counts do not add up: %+v", st)
				}
				seen[got.Index] = true
			}
			if tt.wantScored > 10 && len(seen) < 50 {
				t.Fatalf("200 placements chose only %d distinct nodes", len(seen))
			}
		})
	}
}

// TestDeviceIndex: a CUDA job visits the CUDA nodes only; the rest are
// counted as "no matching device" without being visited.
func TestDeviceIndex(t *testing.T) {
	nodes := make([]domain.Candidate, 10_000)
	for i := range nodes {
		nodes[i] = cpu("cpu", 64, 1)
	}
	nodes[10] = gpu("gpu-a", domain.DeviceCUDA, 24, 0.9)
	nodes[5000] = gpu("gpu-b", domain.DeviceCUDA, 24, 0.8)
	nodes[9999] = with(gpu("gpu-c", domain.DeviceCUDA, 24, 0.95), func(c *domain.Candidate) { c.Online = false })
	nodes[42] = domain.Candidate{NodeID: "empty", Online: true, Reputation: 1} // no CPU, no device
	f := NewFleet(nodes)
	got, err := f.Place(req(domain.DeviceCUDA, 8), policy, rand.New(rand.NewPCG(1, 1)))
	if err != nil || got.NodeID != "gpu-a" {
		t.Fatalf("got %+v, %v", got, err)
	}
	if st := got.Stats; st.Visited != 3 || st.Filtered.Count(domain.ReasonDevice) != 9997 || st.Filtered.Count(domain.ReasonOffline) != 1 {
		t.Fatalf("stats %+v", st)
	}
	for _, tt := range []struct {
		d    domain.DeviceType
		want int
	}{{domain.DeviceAny, 9999}, {domain.DeviceCPU, 9999}, {domain.DeviceCUDA, 3}, {domain.DeviceMetal, 0}, {domain.DeviceType(99), 10_000}} {
		if got := len(f.candidatesFor(tt.d)); got != tt.want {
			t.Errorf("%v: %d candidates, want %d", tt.d, got, tt.want)
		}
	}
}

// TestIndexAgreesWithFeasible: a node is left out of a device's list only
// if domain.Feasible would say "no matching device" for it.
func TestIndexAgreesWithFeasible(t *testing.T) {
	rng := rand.New(rand.NewPCG(9, 9))
	nodes := snapshot(rng, 2000, policy)
	nodes = append(nodes, domain.Candidate{NodeID: "bare", Online: true}, domain.Candidate{NodeID: "cpu-device",
		Online: true, Devices: []domain.Device{{Type: domain.DeviceCPU, MemoryTotal: gib}}})
	f := NewFleet(nodes)
	for d := range numDevices {
		in := map[int32]bool{}
		for _, i := range f.byDevice[d] {
			in[i] = true
		}
		for i := range nodes {
			c := nodes[i]
			c.Online, c.Banned, c.ActiveJobs, c.Reputation = true, false, 0, 1
			noDevice := domain.Feasible(domain.Requirements{Device: domain.DeviceType(d)}, &c, policy) == domain.ReasonDevice
			if in[int32(i)] == noDevice {
				t.Fatalf("%v: node %d indexed=%v but Feasible says no device=%v", domain.DeviceType(d), i, in[int32(i)], noDevice)
			}
		}
	}
}

func TestDeterministic(t *testing.T) {
	run := func() []int {
		rng := rand.New(rand.NewPCG(11, 12))
		f := NewFleet(snapshot(rng, 500, policy))
		var out []int
		for _, j := range queue(rng, 2000) {
			if got, err := f.Place(j.Req, policy, rng); err == nil {
				f.Take(got.Index)
				out = append(out, got.Index)
			} else {
				out = append(out, -1)
			}
		}
		return out
	}
	if a, b := run(), run(); !reflect.DeepEqual(a, b) {
		t.Fatal("two runs with the same seed differ")
	}
}

func TestCoprimeStrideVisitsAll(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 1))
	for n := 2; n < 300; n++ {
		s := coprimeStride(n, rng)
		seen, pos := make([]bool, n), rng.IntN(n)
		for range n {
			seen[pos] = true
			pos = (pos + s) % n
		}
		for i, ok := range seen {
			if !ok {
				t.Fatalf("n=%d stride=%d misses %d", n, s, i)
			}
		}
	}
}

// TestAvoidedNodesAreALastResort: a node to avoid is not chosen while
// another feasible node exists, whatever their scores; when it is the only
// feasible one, it is chosen rather than leaving the job unplaced.
func TestAvoidedNodesAreALastResort(t *testing.T) {
	nodes := []domain.Candidate{
		gpu("best", domain.DeviceCUDA, 24, 1.0), gpu("good", domain.DeviceCUDA, 24, 0.8),
		gpu("poor", domain.DeviceCUDA, 24, 0.4), gpu("small", domain.DeviceCUDA, 4, 1.0),
	}
	tests := []struct {
		name  string
		req   domain.Requirements
		avoid []string
		want  string
	}{
		{"nothing avoided: the best", req(domain.DeviceCUDA, 8), nil, "best"},
		{"the best avoided: the next", req(domain.DeviceCUDA, 8), []string{"best"}, "good"},
		{"two avoided: the worse remaining", req(domain.DeviceCUDA, 8), []string{"best", "good"}, "poor"},
		{"all feasible avoided: the best of them", req(domain.DeviceCUDA, 8), []string{"poor", "best", "good"}, "best"},
		{"unknown nodes avoided: no effect", req(domain.DeviceCUDA, 8), []string{"gone", "elsewhere"}, "best"},
		{"infeasible remaining node is not a way out", req(domain.DeviceCUDA, 16), []string{"best", "good", "poor"}, "best"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := NewFleet(nodes)
			for seed := range uint64(20) {
				got, err := f.PlaceAvoiding(tt.req, policy, rand.New(rand.NewPCG(seed, 1)), tt.avoid)
				if err != nil {
					t.Fatal(err)
				}
				if got.NodeID != tt.want || f.Node(got.Index).NodeID != tt.want {
					t.Fatalf("seed %d: got %s (#%d), want %s", seed, got.NodeID, got.Index, tt.want)
				}
			}
		})
	}
	// The avoided node is the only feasible one, but another is merely
	// full: the job waits for that one rather than going back.
	full := []domain.Candidate{gpu("refused", domain.DeviceCUDA, 24, 1.0),
		with(gpu("busy", domain.DeviceCUDA, 24, 0.5), func(c *domain.Candidate) { c.ActiveJobs = policy.MaxJobsPerNode })}
	var waits *NoPlacement
	if _, err := NewFleet(full).PlaceAvoiding(req(domain.DeviceCUDA, 8), policy, rand.New(rand.NewPCG(1, 1)), []string{"refused"}); !errors.As(err, &waits) ||
		waits.Avoided != 1 || waits.Cached || !strings.Contains(err.Error(), "waiting") {
		t.Fatalf("only the avoided node free, another full: %v", err)
	}
	if got, err := NewFleet(full).Place(req(domain.DeviceCUDA, 8), policy, rand.New(rand.NewPCG(1, 1))); err != nil || got.NodeID != "refused" {
		t.Fatalf("without avoidance: %v %v", got.NodeID, err)
	}
	// Nothing feasible at all stays a NoPlacement.
	var none *NoPlacement
	if _, err := NewFleet(nodes).PlaceAvoiding(req(domain.DeviceCUDA, 64), policy, rand.New(rand.NewPCG(1, 1)), []string{"best"}); !errors.As(err, &none) {
		t.Fatalf("nothing feasible: %v", err)
	}
}
