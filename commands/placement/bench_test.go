package placement

import (
	"math/rand/v2"
	"slices"
	"sync"
	"testing"

	"github.com/cyxwiz/central-server/domain"
)

const (
	benchNodes = 10_000
	benchJobs  = 100_000
)

var bench = sync.OnceValues(func() ([]domain.Candidate, Queue) {
	rng := rand.New(rand.NewPCG(2026, 1))
	snap := snapshot(rng, benchNodes, policy)
	q := queue(rng, benchJobs)
	q.Sort()
	return snap, q
})

// BenchmarkPlace measures one placement on a 10,000-node fleet with a
// sorted queue of 100,000 mixed jobs.
func BenchmarkPlace(b *testing.B) {
	snap, q := bench()

	// steady: one placement per op, jobs taken in queue order; the oldest
	// 4,000 assignments are released whenever 8,000 are held, so the fleet
	// stays between a fifth and two fifths of its free capacity.
	b.Run("steady", func(b *testing.B) {
		f := NewFleet(snap)
		rng := rand.New(rand.NewPCG(1, 2))
		held := make([]int, 0, 8192)
		var visited, placed, n int
		b.ReportAllocs()
		for b.Loop() {
			j := q[n%len(q)]
			n++
			got, err := f.Place(j.Req, policy, rng)
			if err != nil {
				visited += err.(*NoPlacement).Stats.Visited
				continue
			}
			visited += got.Stats.Visited
			placed++
			f.Take(got.Index)
			if held = append(held, got.Index); len(held) == 8000 {
				for _, i := range held[:4000] {
					f.Release(i)
				}
				held = append(held[:0], held[4000:]...)
			}
		}
		b.ReportMetric(float64(visited)/float64(n), "visited/op")
		b.ReportMetric(100*float64(placed)/float64(n), "%placed")
	})

	// pass: one op is a whole scheduling pass, the 100,000 jobs in queue
	// order on a fresh fleet; capacity runs out part way.
	b.Run("pass", func(b *testing.B) {
		rng := rand.New(rand.NewPCG(1, 2))
		var placed int
		b.ReportAllocs()
		for b.Loop() {
			b.StopTimer()
			f := NewFleet(snap)
			b.StartTimer()
			placed = 0
			for _, j := range q {
				if got, err := f.Place(j.Req, policy, rng); err == nil {
					f.Take(got.Index)
					placed++
				}
			}
		}
		b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(q)), "ns/placement")
		b.ReportMetric(float64(placed), "placed/pass")
	})

	// failure: the worst case, a job no node can take on a full fleet,
	// scanning all 10,000 candidates (memo defeated) or answered by the memo.
	full := slices.Clone(snap)
	for i := range full {
		full[i].ActiveJobs = policy.MaxJobsPerNode
	}
	for _, memo := range []bool{false, true} {
		name := "failure-scan"
		if memo {
			name = "failure-memo"
		}
		b.Run(name, func(b *testing.B) {
			f := NewFleet(full)
			rng := rand.New(rand.NewPCG(1, 2))
			r := req(domain.DeviceAny, 8)
			b.ReportAllocs()
			for b.Loop() {
				if !memo {
					f.failed = [len(f.failed)]failure{}
				}
				if _, err := f.Place(r, policy, rng); err == nil {
					b.Fatal("placed on a full fleet")
				}
			}
		})
	}
}

// BenchmarkQueueSort sorts the 100,000-job queue.
func BenchmarkQueueSort(b *testing.B) {
	_, sorted := bench()
	q := slices.Clone(sorted)
	rng := rand.New(rand.NewPCG(3, 4))
	b.ReportAllocs()
	for b.Loop() {
		b.StopTimer()
		rng.Shuffle(len(q), func(i, j int) { q[i], q[j] = q[j], q[i] })
		b.StartTimer()
		q.Sort()
	}
}

// BenchmarkNewFleet builds the 10,000-node fleet and its device index.
func BenchmarkNewFleet(b *testing.B) {
	snap, _ := bench()
	b.ReportAllocs()
	for b.Loop() {
		NewFleet(snap)
	}
}
