package placement

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
)

func TestQueueSort(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	at := func(s int) time.Time { return t0.Add(time.Duration(s) * time.Second) }
	tests := []struct {
		name string
		in   Queue
		want []string
	}{
		{"priority first", Queue{
			{JobID: "low", Priority: domain.PriorityLow, SubmittedAt: at(0)},
			{JobID: "crit", Priority: domain.PriorityCritical, SubmittedAt: at(9)},
			{JobID: "normal", Priority: domain.PriorityNormal, SubmittedAt: at(1)},
			{JobID: "high", Priority: domain.PriorityHigh, SubmittedAt: at(5)},
		}, []string{"crit", "high", "normal", "low"}},
		{"then older first", Queue{
			{JobID: "new", Priority: domain.PriorityHigh, SubmittedAt: at(30)},
			{JobID: "old", Priority: domain.PriorityHigh, SubmittedAt: at(10)},
			{JobID: "mid", Priority: domain.PriorityHigh, SubmittedAt: at(20)},
		}, []string{"old", "mid", "new"}},
		{"then by id", Queue{
			{JobID: "b", SubmittedAt: at(1)}, {JobID: "c", SubmittedAt: at(1)}, {JobID: "a", SubmittedAt: at(1)},
		}, []string{"a", "b", "c"}},
		{"same instant in another zone", Queue{
			{JobID: "b", SubmittedAt: at(1).In(time.FixedZone("X", 3600))}, {JobID: "a", SubmittedAt: at(1)},
		}, []string{"a", "b"}},
		{"empty", Queue{}, []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.in.Sort()
			got := []string{}
			for _, p := range tt.in {
				got = append(got, p.JobID)
			}
			if !slices.Equal(got, tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// TestQueueSortTotal: the order does not depend on the input order.
func TestQueueSortTotal(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	a := queue(rng, 5000)
	b := slices.Clone(a)
	rng.Shuffle(len(b), func(i, j int) { b[i], b[j] = b[j], b[i] })
	a.Sort()
	b.Sort()
	if !slices.Equal(a, b) {
		t.Fatal("sorting two orders of the same queue gives two orders")
	}
	for i := 1; i < len(a); i++ {
		x, y := a[i-1], a[i]
		if domain.QueueLess(y.Priority, y.SubmittedAt, y.JobID, x.Priority, x.SubmittedAt, x.JobID) {
			t.Fatalf("%d: %+v before %+v", i, x, y)
		}
	}
}

func TestQueued(t *testing.T) {
	spec := domain.JobSpec{Type: domain.JobTypeTraining, Priority: domain.PriorityHigh, RequiredDevice: domain.DeviceCUDA, EstimatedMemory: 8 * gib}
	now := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	ev, err := domain.SubmitJob("job-1", "alice", spec, domain.DefaultLimits, now)
	if err != nil {
		t.Fatal(err)
	}
	var j domain.Job
	j.Apply(ev)
	want := domain.QueuedJob{JobID: "job-1", Priority: domain.PriorityHigh, SubmittedAt: now, Req: req(domain.DeviceCUDA, 8)}
	if got := Queued(&j); got != want {
		t.Fatalf("got %+v, want %+v", got, want)
	}
}
