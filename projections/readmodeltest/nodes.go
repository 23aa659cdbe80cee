package readmodeltest

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
)

// Now is the time node queries are asked at in the node tests.
var Now = At(100 * time.Minute)

func ptr[T any](v T) *T { return &v }

// fleet returns six nodes:
//
//	id  region   device         price rep   compute stake online            uptime slots(5)
//	n1  eu-west  CUDA 24 GiB    2.0   0.9   80      100   0-20m, 40m-     80%   4 (1 held)
//	n2  us-east  CUDA 8 GiB     0.5   0.8   30      10    50m-            50%   5, free tier, per-job billing
//	n3  eu-west  Metal 16 GiB   1.0   0.75  50      0     0-              100%  2 (3 held), per-job billing
//	n4  ap-south CPU, 64 GiB    0.1   0.5   10      0     0-30m           30%   0 (offline)
//	n5  us-east  CUDA 80 GiB    4.0   0.95  200     1000  0-, banned 60m  100%  0 (banned)
//	n6  EU-WEST  OpenCL 4 GiB   0.0   0.3   5       0     10m-            90%   5, free tier, no CPU
//
// n1 ran two jobs (3.5 s of compute) and sampled ten metrics at 1m…10m
// (cpu 1…10); n2 registered at 0.7 and was updated to 0.5.
func fleet() []projections.Envelope {
	h := NewHistory()
	spec := func(name, region string, price, compute, stake float64, devs ...domain.Device) domain.NodeSpec {
		s := NodeSpec(name, region, price, devs...)
		s.ComputeScore, s.StakedAmount, s.RAMTotal, s.RAMAvailable = compute, stake, 8*GiB, 6*GiB
		return s
	}
	n1 := spec("n1", "eu-west", 2.0, 80, 100, GPU(24*GiB))
	n2old := spec("n2", "us-east", 0.7, 30, 10, GPU(8*GiB))
	n2 := n2old
	n2.Pricing = domain.Pricing{BillingModel: 2, PricePerHour: 0.5, USDEquivalent: 0.5, FreeTierAvailable: true, FreeTierMinutes: 30}
	n3 := spec("n3", "eu-west", 1.0, 50, 0, domain.Device{Type: domain.DeviceMetal, Name: "M2", MemoryTotal: 16 * GiB, MemoryAvailable: 12 * GiB})
	n3.Pricing.BillingModel = 2
	n4 := spec("n4", "ap-south", 0.1, 10, 0)
	n4.CPUCores, n4.RAMTotal, n4.RAMAvailable = 16, 64*GiB, 60*GiB
	n5 := spec("n5", "us-east", 4.0, 200, 1000, GPU(80*GiB))
	n6 := spec("n6", "EU-WEST", 0, 5, 0, domain.Device{Type: domain.DeviceOpenCL, VRAMTotal: 4 * GiB, VRAMAvailable: 4 * GiB})
	n6.CPUCores, n6.Pricing.FreeTierAvailable = 0, true

	reg := func(id string, s domain.NodeSpec) domain.Event {
		return domain.NodeRegistered{NodeID: id, Owner: "owner-" + id, Spec: s, Reputation: domain.InitialReputation, At: T0}
	}
	rep := func(id string, score float64, at time.Duration) domain.Event {
		return domain.ReputationAdjusted{NodeID: id, Delta: score - 0.5, Score: score, Reason: "test", At: At(at)}
	}
	on := func(id string, at time.Duration) domain.Event { return domain.NodeWentOnline{NodeID: id, At: At(at)} }
	off := func(id string, at time.Duration) domain.Event {
		return domain.NodeWentOffline{NodeID: id, Reason: "lease expired", At: At(at)}
	}
	reserve := func(id, job string) domain.Event {
		return domain.NodeJobReserved{NodeID: id, JobID: job, At: At(45 * time.Minute)}
	}
	events := []domain.Event{
		reg("n1", n1), reg("n2", n2old), reg("n3", n3), reg("n4", n4), reg("n5", n5), reg("n6", n6),
		on("n1", 0), on("n3", 0), on("n4", 0), on("n5", 0),
		domain.NodeUpdated{NodeID: "n2", Spec: n2, At: At(5 * time.Minute)},
		on("n6", 10*time.Minute), off("n1", 20*time.Minute), off("n4", 30*time.Minute), on("n1", 40*time.Minute),
		on("n1", 41*time.Minute), // already online: only LastSeen moves
		on("n2", 50*time.Minute),
		rep("n1", 0.9, time.Minute), rep("n2", 0.8, time.Minute), rep("n3", 0.75, time.Minute),
		rep("n5", 0.95, time.Minute), rep("n6", 0.3, time.Minute),
		reserve("n1", "job-a"), reserve("n3", "job-b"), reserve("n3", "job-c"), reserve("n3", "job-e"), reserve("n3", "job-d"),
		reserve("n3", "job-b"), // held already: changes nothing
		domain.NodeJobReleased{NodeID: "n3", JobID: "job-e", Reason: "done", At: At(46 * time.Minute)},
		domain.NodeBanned{NodeID: "n5", Reason: "fraud", By: "admin", At: At(60 * time.Minute)},
		domain.NodeBanned{NodeID: "n2", Reason: "mistake", By: "admin", At: At(61 * time.Minute)},
		domain.NodeUnbanned{NodeID: "n2", By: "admin", At: At(62 * time.Minute)},
		domain.JobCompleted{JobID: "done-1", NodeID: "n1", Result: domain.JobResult{ComputeTimeMs: 1000}, At: At(70 * time.Minute)},
		domain.JobCompleted{JobID: "done-2", NodeID: "n1", Result: domain.JobResult{ComputeTimeMs: 2500}, At: At(71 * time.Minute)},
		domain.JobCompleted{JobID: "done-3", NodeID: "ghost", At: At(72 * time.Minute)}, // unknown node: ignored
	}
	for i := 1; i <= 10; i++ {
		events = append(events, domain.NodeMetricsSampled{NodeID: "n1", At: At(time.Duration(i) * time.Minute),
			Sample: domain.MetricSample{CPUUsage: float64(i), GPUUsage: 0.5, MemoryUsage: 0.25, NetworkThroughput: 100,
				PowerConsumption: 300, ActiveJobs: 1, RAMAvailable: 4 * GiB}})
	}
	return h.Envelopes(events...)
}

func ids(nodes []projections.NodeView) []string {
	out := make([]string, len(nodes))
	for i, n := range nodes {
		out[i] = n.ID
	}
	return out
}

func testNodeLifecycle(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	envs := fleet()
	applyInBatches(t, m, envs)

	// n1, field by field, from the fleet's history.
	var spec domain.NodeSpec
	var lastPos, lastRev uint64
	for _, e := range envs {
		if r, ok := e.Event.(domain.NodeRegistered); ok && r.NodeID == "n1" {
			spec = r.Spec
		}
		if e.Stream == domain.NodeStream("n1") {
			lastRev = e.Revision
		}
		if id, _ := projections.NodeIDOf(e.Event); id == "n1" {
			lastPos = e.Position
		}
	}
	last := domain.MetricSample{CPUUsage: 10, GPUUsage: 0.5, MemoryUsage: 0.25, NetworkThroughput: 100,
		PowerConsumption: 300, ActiveJobs: 1, RAMAvailable: 4 * GiB}
	want := projections.NodeView{
		ID: "n1", Owner: "owner-n1", Spec: spec, Online: true, Reputation: 0.9,
		Reservations:   []domain.Reservation{{NodeID: "n1", JobID: "job-a", At: At(45 * time.Minute)}},
		RegisteredAt:   T0,
		WentOnlineAt:   At(40 * time.Minute),
		WentOfflineAt:  At(20 * time.Minute),
		OnlineDuration: 20 * time.Minute,
		LastSeen:       At(41 * time.Minute),
		JobsCompleted:  2, ComputeMs: 3500,
		LastMetrics: &last, LastMetricsAt: At(10 * time.Minute),
		Revision: lastRev, Position: lastPos,
	}
	n1 := getNode(t, m, "n1")
	diffNode(t, "n1", n1, want)

	tests := []struct {
		id           string
		online       bool
		banned       bool
		rep          float64
		price        float64
		reservations []string
		uptime       float64
	}{
		{"n1", true, false, 0.9, 2.0, []string{"job-a"}, 80},
		{"n2", true, false, 0.8, 0.5, nil, 50},
		{"n3", true, false, 0.75, 1.0, []string{"job-b", "job-c", "job-d"}, 100},
		{"n4", false, false, 0.5, 0.1, nil, 30},
		{"n5", true, true, 0.95, 4.0, nil, 100},
		{"n6", true, false, 0.3, 0, nil, 90},
	}
	for _, tc := range tests {
		t.Run(tc.id, func(t *testing.T) {
			v := getNode(t, m, tc.id)
			var res []string
			for _, r := range v.Reservations {
				res = append(res, r.JobID)
			}
			if v.Online != tc.online || v.Banned != tc.banned || v.Reputation != tc.rep ||
				v.Spec.Pricing.PricePerHour != tc.price || !slices.Equal(res, tc.reservations) {
				t.Errorf("online %v banned %v rep %v price %v reservations %v; want %v %v %v %v %v",
					v.Online, v.Banned, v.Reputation, v.Spec.Pricing.PricePerHour, res,
					tc.online, tc.banned, tc.rep, tc.price, tc.reservations)
			}
			if u := v.Uptime(Now); math.Abs(u-tc.uptime) > 1e-9 {
				t.Errorf("uptime at 100m = %v%%, want %v%%", u, tc.uptime)
			}
		})
	}
	if _, found, err := m.GetNode(ctx(t), "ghost"); found || err != nil {
		t.Errorf("GetNode(ghost) = found %v, err %v", found, err)
	}
	// A returned view is a copy.
	n1.Reservations[0].JobID = "changed"
	n1.Spec.Devices[0].Name = "changed"
	if v := getNode(t, m, "n1"); v.Reservations[0].JobID != "job-a" || v.Spec.Devices[0].Name != "gpu" {
		t.Errorf("changing a returned view changed the model")
	}
}

func testFindNodes(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	applyInBatches(t, m, fleet())
	tests := []struct {
		name   string
		filter projections.NodeFindFilter
		want   []string
	}{
		{"no filter: online, not banned, cheapest first", projections.NodeFindFilter{}, []string{"n6", "n2", "n3", "n1"}},
		{"CUDA", projections.NodeFindFilter{Device: domain.DeviceCUDA}, []string{"n2", "n1"}},
		{"CPU (CPU cores)", projections.NodeFindFilter{Device: domain.DeviceCPU}, []string{"n2", "n3", "n1"}},
		{"Metal", projections.NodeFindFilter{Device: domain.DeviceMetal}, []string{"n3"}},
		{"Vulkan: none", projections.NodeFindFilter{Device: domain.DeviceVulkan}, nil},
		{"min memory on any device", projections.NodeFindFilter{MinMemory: 16 * GiB}, []string{"n3", "n1"}},
		{"min memory on CUDA", projections.NodeFindFilter{Device: domain.DeviceCUDA, MinMemory: 10 * GiB}, []string{"n1"}},
		{"min reputation", projections.NodeFindFilter{MinReputation: 0.75}, []string{"n2", "n3", "n1"}},
		{"preferred region first", projections.NodeFindFilter{PreferredRegion: "eu-west"}, []string{"n6", "n3", "n1", "n2"}},
		{"allowed regions", projections.NodeFindFilter{AllowedRegions: []string{"US-EAST", "ap-south"}}, []string{"n2"}},
		{"blocked regions", projections.NodeFindFilter{BlockedRegions: []string{"eu-west"}}, []string{"n2"}},
		{"max price per hour", projections.NodeFindFilter{MaxPricePerHour: 1.0}, []string{"n6", "n2", "n3"}},
		{"max price in USD", projections.NodeFindFilter{MaxPriceUSD: 0.6}, []string{"n6", "n2"}},
		{"free tier", projections.NodeFindFilter{RequireFreeTier: true}, []string{"n6", "n2"}},
		{"min VRAM", projections.NodeFindFilter{MinVRAM: 10 * GiB}, []string{"n1"}},
		{"min VRAM, small", projections.NodeFindFilter{MinVRAM: 4 * GiB}, []string{"n6", "n2", "n1"}},
		{"min compute score", projections.NodeFindFilter{MinComputeScore: 40}, []string{"n3", "n1"}},
		{"min stake", projections.NodeFindFilter{MinStake: 50}, []string{"n1"}},
		{"preferred billing first", projections.NodeFindFilter{PreferredBilling: ptr(2)}, []string{"n2", "n3", "n6", "n1"}},
		{"region outranks billing", projections.NodeFindFilter{PreferredRegion: "eu-west", PreferredBilling: ptr(2)}, []string{"n3", "n6", "n1", "n2"}},
		{"by performance", projections.NodeFindFilter{Sort: projections.SortByPerformance}, []string{"n1", "n3", "n2", "n6"}},
		{"by reputation", projections.NodeFindFilter{Sort: projections.SortByReputation}, []string{"n1", "n2", "n3", "n6"}},
		{"by availability: free slots, then uptime", projections.NodeFindFilter{Sort: projections.SortByAvailability}, []string{"n6", "n2", "n1", "n3"}},
		{"CUDA under 1.0", projections.NodeFindFilter{Device: domain.DeviceCUDA, MaxPricePerHour: 1}, []string{"n2"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.filter
			f.Now = Now
			res, err := m.FindNodes(ctx(t), f)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(res.Nodes); !slices.Equal(got, tc.want) {
				t.Fatalf("found %v, want %v", got, tc.want)
			}
			if res.TotalMatching != len(tc.want) {
				t.Errorf("total matching %d, want %d", res.TotalMatching, len(tc.want))
			}
			var lo, hi, sum float64
			for i, n := range res.Nodes {
				p := n.Spec.Pricing.PricePerHour
				if i == 0 || p < lo {
					lo = p
				}
				hi, sum = max(hi, p), sum+p
			}
			avg := 0.0
			if len(res.Nodes) > 0 {
				avg = sum / float64(len(res.Nodes))
			}
			if math.Abs(res.AvgPrice-avg) > 1e-9 || res.MinPrice != lo || res.MaxPrice != hi {
				t.Errorf("prices avg %v min %v max %v; want %v %v %v", res.AvgPrice, res.MinPrice, res.MaxPrice, avg, lo, hi)
			}
		})
	}
	t.Run("max results bounds the nodes, not the totals", func(t *testing.T) {
		res, err := m.FindNodes(ctx(t), projections.NodeFindFilter{MaxResults: 2, Now: Now})
		if err != nil {
			t.Fatal(err)
		}
		if got := ids(res.Nodes); !slices.Equal(got, []string{"n6", "n2"}) || res.TotalMatching != 4 ||
			math.Abs(res.AvgPrice-0.875) > 1e-9 || res.MinPrice != 0 || res.MaxPrice != 2 {
			t.Fatalf("got %v, total %d, avg %v min %v max %v", got, res.TotalMatching, res.AvgPrice, res.MinPrice, res.MaxPrice)
		}
	})
	t.Run("unknown sort", func(t *testing.T) {
		if _, err := m.FindNodes(ctx(t), projections.NodeFindFilter{Sort: 9, Now: Now}); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Fatalf("err = %v, want ErrInvalidArgument", err)
		}
	})
}

func testListNodes(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	applyInBatches(t, m, fleet())
	tests := []struct {
		name   string
		filter projections.NodeListFilter
		want   []string
	}{
		{"every node, cheapest first", projections.NodeListFilter{}, []string{"n6", "n4", "n2", "n3", "n1", "n5"}},
		{"online only", projections.NodeListFilter{OnlineOnly: true}, []string{"n6", "n2", "n3", "n1", "n5"}},
		{"CUDA", projections.NodeListFilter{Device: domain.DeviceCUDA}, []string{"n2", "n1", "n5"}},
		{"CPU", projections.NodeListFilter{Device: domain.DeviceCPU}, []string{"n4", "n2", "n3", "n1", "n5"}},
		{"region, any case", projections.NodeListFilter{Region: "Eu-West"}, []string{"n6", "n3", "n1"}},
		{"price range", projections.NodeListFilter{MinPrice: 0.5, MaxPrice: 2}, []string{"n2", "n3", "n1"}},
		{"most expensive first", projections.NodeListFilter{Descending: true}, []string{"n5", "n1", "n3", "n2", "n4", "n6"}},
		{"by reputation, best first", projections.NodeListFilter{Sort: projections.SortByReputation, Descending: true},
			[]string{"n5", "n1", "n2", "n3", "n4", "n6"}},
		{"by performance, weakest first", projections.NodeListFilter{Sort: projections.SortByPerformance},
			[]string{"n6", "n4", "n2", "n3", "n1", "n5"}},
		{"by availability, most first", projections.NodeListFilter{Sort: projections.SortByAvailability, Descending: true},
			[]string{"n6", "n2", "n1", "n3", "n5", "n4"}},
		{"by availability, least first", projections.NodeListFilter{Sort: projections.SortByAvailability},
			[]string{"n4", "n5", "n3", "n1", "n2", "n6"}},
		{"online CUDA in us-east", projections.NodeListFilter{OnlineOnly: true, Device: domain.DeviceCUDA, Region: "us-east"},
			[]string{"n2", "n5"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f := tc.filter
			f.Now, f.PageSize = Now, 100
			page, err := m.ListNodes(ctx(t), f)
			if err != nil {
				t.Fatal(err)
			}
			if got := ids(page.Nodes); !slices.Equal(got, tc.want) {
				t.Fatalf("listed %v, want %v", got, tc.want)
			}
			online := 0
			for _, n := range page.Nodes {
				if n.Online {
					online++
				}
			}
			if page.Total != len(tc.want) || page.Online != online || page.Next != "" {
				t.Errorf("total %d online %d next %q; want %d %d \"\"", page.Total, page.Online, page.Next, len(tc.want), online)
			}
			// The network figures ignore the filter: online, unbanned n1, n2, n3, n6.
			if math.Abs(page.NetworkAvgPrice-0.875) > 1e-9 || page.NetworkTotalCompute != 165 {
				t.Errorf("network avg price %v, total compute %v; want 0.875, 165", page.NetworkAvgPrice, page.NetworkTotalCompute)
			}
		})
	}
	t.Run("unknown sort", func(t *testing.T) {
		if _, err := m.ListNodes(ctx(t), projections.NodeListFilter{Sort: -1, Now: Now}); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Fatalf("err = %v, want ErrInvalidArgument", err)
		}
	})
}

func testListNodesPaging(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	h := NewHistory()
	var events []domain.Event
	for i := range 23 {
		id := fmt.Sprintf("p-%02d", i)
		s := NodeSpec(id, []string{"eu-west", "us-east"}[i%2], float64(i%3), GPU(8*GiB))
		s.ComputeScore = float64(i % 4)
		events = append(events,
			domain.NodeRegistered{NodeID: id, Owner: "op", Spec: s, Reputation: float64(i%5) / 10, At: T0},
			domain.NodeWentOnline{NodeID: id, At: At(time.Duration(i%6) * time.Minute)})
		for j := range i % 7 {
			events = append(events, domain.NodeJobReserved{NodeID: id, JobID: fmt.Sprintf("%s-j%d", id, j), At: T0})
		}
		if i%8 == 0 {
			events = append(events, domain.NodeWentOffline{NodeID: id, At: At(50 * time.Minute)})
		}
	}
	applyInBatches(t, m, h.Envelopes(events...))
	for _, sort := range []projections.NodeSort{projections.SortByPrice, projections.SortByPerformance,
		projections.SortByReputation, projections.SortByAvailability} {
		for _, desc := range []bool{false, true} {
			for _, online := range []bool{false, true} {
				t.Run(fmt.Sprintf("sort %d desc %v online %v", sort, desc, online), func(t *testing.T) {
					f := projections.NodeListFilter{Sort: sort, Descending: desc, OnlineOnly: online, Now: Now, PageSize: projections.MaxPageSize}
					all, err := m.ListNodes(ctx(t), f)
					if err != nil {
						t.Fatal(err)
					}
					want := ids(all.Nodes)
					f.PageSize = 4
					var got []string
					for page := 0; ; page++ {
						if page > len(want) {
							t.Fatal("too many pages")
						}
						p, err := m.ListNodes(ctx(t), f)
						if err != nil {
							t.Fatalf("page %d: %v", page, err)
						}
						if p.Total != len(want) || (p.Next != "" && len(p.Nodes) != 4) {
							t.Fatalf("page %d: %d nodes, total %d, next %q", page, len(p.Nodes), p.Total, p.Next)
						}
						got = append(got, ids(p.Nodes)...)
						if p.Next == "" {
							break
						}
						f.PageToken = p.Next
					}
					if !slices.Equal(got, want) {
						t.Fatalf("paged %v\nwant  %v", got, want)
					}
				})
			}
		}
	}
	t.Run("a token of another sort is refused", func(t *testing.T) {
		p, err := m.ListNodes(ctx(t), projections.NodeListFilter{PageSize: 2, Now: Now})
		if err != nil || p.Next == "" {
			t.Fatalf("first page: next %q, err %v", p.Next, err)
		}
		for _, f := range []projections.NodeListFilter{
			{PageSize: 2, Now: Now, PageToken: p.Next, Descending: true},
			{PageSize: 2, Now: Now, PageToken: p.Next, Sort: projections.SortByReputation},
			{PageSize: 2, Now: Now, PageToken: p.Next, OnlineOnly: true},
			{PageSize: 2, Now: Now, PageToken: "garbage"},
		} {
			if _, err := m.ListNodes(ctx(t), f); !errors.Is(err, projections.ErrBadPageToken) {
				t.Errorf("ListNodes(%+v) err = %v, want ErrBadPageToken", f, err)
			}
		}
	})
}

func testNodeMetrics(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	m := newModel(t)
	applyInBatches(t, m, fleet())
	minute := func(n int) time.Time { return At(time.Duration(n) * time.Minute) }
	tests := []struct {
		name     string
		node     string
		from, to time.Time
		want     []float64 // cpu usage of the points, in order
	}{
		{"closed range, bounds included", "n1", minute(3), minute(6), []float64{3, 4, 5, 6}},
		{"open start", "n1", time.Time{}, minute(2), []float64{1, 2}},
		{"open end", "n1", minute(9), time.Time{}, []float64{9, 10}},
		{"everything", "n1", time.Time{}, time.Time{}, []float64{1, 2, 3, 4, 5, 6, 7, 8, 9, 10}},
		{"between samples", "n1", minute(3).Add(time.Second), minute(4).Add(-time.Second), nil},
		{"after the last", "n1", minute(11), minute(20), nil},
		{"a node without samples", "n2", time.Time{}, time.Time{}, nil},
		{"an unknown node", "ghost", time.Time{}, time.Time{}, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			pts, err := m.NodeMetrics(ctx(t), tc.node, tc.from, tc.to)
			if err != nil {
				t.Fatal(err)
			}
			var got []float64
			for i, p := range pts {
				got = append(got, p.Sample.CPUUsage)
				if !p.At.Equal(minute(int(p.Sample.CPUUsage))) || p.Sample.PowerConsumption != 300 {
					t.Errorf("point %d = %+v", i, p)
				}
			}
			if !slices.Equal(got, tc.want) {
				t.Fatalf("cpu usage %v, want %v", got, tc.want)
			}
		})
	}
	t.Run("a range that ends before it starts", func(t *testing.T) {
		if _, err := m.NodeMetrics(ctx(t), "n1", minute(5), minute(4)); !errors.Is(err, domain.ErrInvalidArgument) {
			t.Fatalf("err = %v, want ErrInvalidArgument", err)
		}
	})
}

// testNodeDeleted: a deleted node leaves every query (get, list, find,
// metrics, counts) however the batches fall, and what comes after its
// deletion on its stream is ignored.
func testNodeDeleted(t *testing.T, newModel func(*testing.T) ReadModelUnderTest) {
	events := func() []projections.Envelope {
		h := NewHistory()
		reg := func(id string) domain.Event {
			return domain.NodeRegistered{NodeID: id, Owner: "o", Spec: NodeSpec(id, "eu-west", 1, GPU(8*GiB)), Reputation: 0.5, At: T0}
		}
		return h.Envelopes(
			reg("keep"), reg("gone"),
			domain.NodeWentOnline{NodeID: "keep", At: At(time.Minute)},
			domain.NodeWentOnline{NodeID: "gone", At: At(time.Minute)},
			domain.NodeMetricsSampled{NodeID: "gone", Sample: domain.MetricSample{CPUUsage: 1}, At: At(2 * time.Minute)},
			domain.NodeJobReserved{NodeID: "gone", JobID: "j", At: At(3 * time.Minute)},
			domain.NodeJobReleased{NodeID: "gone", JobID: "j", Reason: "banned", At: At(4 * time.Minute)},
			domain.NodeBanned{NodeID: "gone", Reason: "abuse", By: "root", At: At(4 * time.Minute)},
			domain.NodeDeleted{NodeID: "gone", Reason: "abuse", By: "root", At: At(5 * time.Minute)},
			domain.NodeWentOffline{NodeID: "gone", Reason: "lease expired", At: At(6 * time.Minute)},
		)
	}
	for _, c := range []struct {
		name  string
		apply func(*testing.T, projections.ReadModel, []projections.Envelope)
	}{
		{"one batch", func(t *testing.T, m projections.ReadModel, envs []projections.Envelope) { apply(t, m, envs...) }},
		{"batches", applyInBatches},
		{"one event a batch", func(t *testing.T, m projections.ReadModel, envs []projections.Envelope) {
			for _, e := range envs {
				apply(t, m, e)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := newModel(t)
			c.apply(t, m, events())
			if _, found, err := m.GetNode(t.Context(), "gone"); err != nil || found {
				t.Fatalf("GetNode(deleted) = found %v, err %v", found, err)
			}
			list, err := m.ListNodes(t.Context(), projections.NodeListFilter{})
			if err != nil || len(list.Nodes) != 1 || list.Nodes[0].ID != "keep" {
				t.Fatalf("ListNodes = %v, %v; want only keep", ids(list.Nodes), err)
			}
			found, err := m.FindNodes(t.Context(), projections.NodeFindFilter{})
			if err != nil || len(found.Nodes) != 1 || found.Nodes[0].ID != "keep" {
				t.Fatalf("FindNodes = %v, %v; want only keep", ids(found.Nodes), err)
			}
			if pts, err := m.NodeMetrics(t.Context(), "gone", time.Time{}, time.Time{}); err != nil || len(pts) != 0 {
				t.Fatalf("NodeMetrics(deleted) = %d points, %v", len(pts), err)
			}
			st, err := m.NetworkStats(t.Context(), At(time.Hour))
			if err != nil || st.NodesTotal != 1 || st.NodesOnline != 1 {
				t.Fatalf("NetworkStats = %d nodes, %d online, %v; want 1, 1", st.NodesTotal, st.NodesOnline, err)
			}
		})
	}
}
