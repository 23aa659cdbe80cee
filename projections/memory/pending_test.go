package memory_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// TestPendingJobsAgainstBruteForce drives random queue changes and checks
// the cached, patched queue against a sort of the truth after each batch.
func TestPendingJobsAgainstBruteForce(t *testing.T) {
	tests := []struct {
		name             string
		rounds, perRound int
		readEvery        int // call PendingJobs every readEvery rounds
	}{
		{"small deltas, read often", 300, 3, 1},
		{"large deltas overflow to a rebuild", 12, 1500, 1},
		{"reads far apart", 200, 20, 17},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			rng := rand.New(rand.NewPCG(7, uint64(tc.perRound)))
			m := memory.New(memory.Config{})
			h := readmodeltest.NewHistory()
			truth := map[string]domain.QueuedJob{}  // pending jobs
			pending, placed := newSet(), newSet()   // the same ids, and assigned jobs
			queued := map[string]domain.QueuedJob{} // every job as submitted
			next := 0
			for round := range tc.rounds {
				var envs []projections.Envelope
				for range tc.perRound {
					switch op := rng.IntN(10); {
					case op < 5 || pending.len() == 0: // submit
						id := fmt.Sprintf("j%06d", next)
						next++
						// Ties on priority and time happen: the id breaks them.
						at := readmodeltest.At(time.Duration(rng.IntN(50)) * time.Second)
						p := domain.Priority(rng.IntN(4))
						envs = append(envs, h.Envelope(domain.JobSubmitted{JobID: id, Owner: "o", At: at,
							Spec: domain.JobSpec{Priority: p, RequiredDevice: domain.DeviceCUDA, EstimatedMemory: 7}}))
						truth[id] = domain.QueuedJob{JobID: id, Priority: p, SubmittedAt: at,
							Req: domain.Requirements{Device: domain.DeviceCUDA, Memory: 7}}
						queued[id] = truth[id]
						pending.add(id)
					case op < 8: // assign a pending job
						id := pending.pick(rng)
						envs = append(envs, h.Envelope(domain.JobAssigned{JobID: id, NodeID: "n", Attempt: 1}))
						placed.add(id)
						pending.remove(id)
						delete(truth, id)
					case op < 9 && placed.len() > 0: // requeue an assigned job
						id := placed.pick(rng)
						envs = append(envs, h.Envelope(domain.JobRequeued{JobID: id, Reason: "x", Requeues: 1}))
						placed.remove(id)
						pending.add(id)
						truth[id] = queued[id] // back in the queue at its original place
					default: // cancel a pending job
						id := pending.pick(rng)
						envs = append(envs, h.Envelope(domain.JobCancelled{JobID: id, By: "o"}))
						pending.remove(id)
						delete(truth, id)
					}
				}
				if err := m.Apply(context.Background(), envs, h.Position()); err != nil {
					t.Fatal(err)
				}
				if round%tc.readEvery != 0 && round != tc.rounds-1 {
					continue
				}
				want := make([]domain.QueuedJob, 0, len(truth))
				for _, j := range truth {
					want = append(want, j)
				}
				slices.SortFunc(want, func(a, b domain.QueuedJob) int {
					if domain.QueueLess(a.Priority, a.SubmittedAt, a.JobID, b.Priority, b.SubmittedAt, b.JobID) {
						return -1
					}
					return 1
				})
				if got := m.PendingJobs(); !reflect.DeepEqual(got, want) && !(len(got) == 0 && len(want) == 0) {
					t.Fatalf("round %d: %d pending, want %d; first difference at %d", round, len(got), len(want), firstDiff(got, want))
				}
			}
		})
	}
}

// set is a set of ids with a deterministic random pick.
type set struct {
	ids   []string
	index map[string]int
}

func newSet() *set { return &set{index: map[string]int{}} }

func (s *set) len() int { return len(s.ids) }

func (s *set) add(id string) {
	s.index[id] = len(s.ids)
	s.ids = append(s.ids, id)
}

func (s *set) remove(id string) {
	i := s.index[id]
	last := s.ids[len(s.ids)-1]
	s.ids[i], s.index[last] = last, i
	s.ids = s.ids[:len(s.ids)-1]
	delete(s.index, id)
}

func (s *set) pick(rng *rand.Rand) string { return s.ids[rng.IntN(len(s.ids))] }

func firstDiff(a, b []domain.QueuedJob) int {
	for i := range min(len(a), len(b)) {
		if a[i] != b[i] {
			return i
		}
	}
	return min(len(a), len(b))
}

// TestPendingJobsAfter: the queue read a page at a time, from any page
// size, is PendingJobs.
func TestPendingJobsAfter(t *testing.T) {
	m := memory.New(memory.Config{})
	envs := readmodeltest.Realistic(20_000, 3, 5) // nodes never free up: many jobs stay pending
	if err := m.Apply(context.Background(), envs, envs[len(envs)-1].Position); err != nil {
		t.Fatal(err)
	}
	all := m.PendingJobs()
	if len(all) < 10 {
		t.Fatalf("only %d pending jobs", len(all))
	}
	for _, n := range []int{1, 3, 7, len(all) - 1, len(all), len(all) + 1} {
		var got []domain.QueuedJob
		var last domain.QueuedJob
		for first := true; ; first = false {
			page := m.PendingJobsAfter(last, first, n)
			got = append(got, page...)
			if len(page) < n {
				break
			}
			last = page[len(page)-1]
		}
		if !slices.Equal(got, all) {
			t.Fatalf("pages of %d: %d jobs, want the %d of PendingJobs in order", n, len(got), len(all))
		}
	}
}
