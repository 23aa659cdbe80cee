package memory_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// BenchmarkReplay applies a realistic history (readmodeltest.Realistic:
// about 12 events per job, mostly progress reports, with node metrics,
// reputation and reservations) to an empty model in batches of 512, as the
// runner does at start. The figure to watch is events/s.
func BenchmarkReplay(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		b.Run(fmt.Sprintf("events=%d", n), func(b *testing.B) {
			envs := readmodeltest.Realistic(n, 1000, 1)
			ctx := context.Background()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				m := memory.New(memory.Config{})
				for i := 0; i < len(envs); i += 512 {
					batch := envs[i:min(i+512, len(envs))]
					if err := m.Apply(ctx, batch, batch[len(batch)-1].Position); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.ReportMetric(float64(len(envs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// snapshotModel holds 100,000 pending jobs, 5,000 running ones and 10,000
// nodes.
func snapshotModel(b *testing.B) *memory.Model {
	b.Helper()
	h := readmodeltest.NewHistory()
	var envs []projections.Envelope
	for i := range 10_000 {
		id := fmt.Sprintf("node-%05d", i)
		envs = append(envs, h.Envelopes(
			domain.NodeRegistered{NodeID: id, Owner: "op", Spec: readmodeltest.NodeSpec(id, "eu", 1, readmodeltest.GPU(8*readmodeltest.GiB)), Reputation: 0.5},
			domain.NodeWentOnline{NodeID: id})...)
	}
	for i := range 105_000 {
		id := fmt.Sprintf("job-%06d", i)
		envs = append(envs, h.Envelope(domain.JobSubmitted{JobID: id, Owner: "u",
			Spec: readmodeltest.JobSpec(domain.JobTypeTraining, domain.Priority(i%4), domain.DeviceCUDA, readmodeltest.GiB),
			At:   readmodeltest.At(time.Duration(i) * time.Millisecond)}))
		if i%21 == 0 {
			node := fmt.Sprintf("node-%05d", i%10_000)
			envs = append(envs, h.Envelopes(domain.NodeJobReserved{NodeID: node, JobID: id},
				domain.JobAssigned{JobID: id, NodeID: node, Attempt: 1}, domain.JobStarted{JobID: id, NodeID: node})...)
		}
	}
	m := memory.New(memory.Config{})
	if err := m.Apply(context.Background(), envs, h.Position()); err != nil {
		b.Fatal(err)
	}
	return m
}

// BenchmarkSnapshot measures the scheduler's reads on a big model; a
// PendingJobs after a change re-sorts the queue, one without a change copies it.
func BenchmarkSnapshot(b *testing.B) {
	m := snapshotModel(b)
	b.Logf("%d pending, %d assignments, %d candidates", len(m.PendingJobs()), len(m.Assignments()), len(m.Candidates()))
	h := readmodeltest.NewHistory()
	h.Skip(m.Checkpoint())
	b.Run("PendingJobs/unchanged", func(b *testing.B) {
		for b.Loop() {
			_ = m.PendingJobs()
		}
	})
	b.Run("PendingJobs/after-a-submission", func(b *testing.B) {
		i := 0
		for b.Loop() {
			b.StopTimer()
			i++
			e := h.Envelope(domain.JobSubmitted{JobID: fmt.Sprintf("more-%d", i), Owner: "u", At: readmodeltest.T0})
			m.Apply(context.Background(), []projections.Envelope{e}, e.Position)
			b.StartTimer()
			_ = m.PendingJobs()
		}
	})
	b.Run("Candidates", func(b *testing.B) {
		for b.Loop() {
			_ = m.Candidates()
		}
	})
	b.Run("Assignments", func(b *testing.B) {
		for b.Loop() {
			_ = m.Assignments()
		}
	})
	b.Run("Reservations", func(b *testing.B) {
		for b.Loop() {
			_ = m.Reservations()
		}
	})
	b.Run("ListJobs/page-of-50", func(b *testing.B) {
		for b.Loop() {
			if _, _, _, err := m.ListJobs(context.Background(), projections.JobFilter{Owner: "u"}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("FindNodes/10k", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.FindNodes(context.Background(), projections.NodeFindFilter{Device: domain.DeviceCUDA, Now: readmodeltest.T0}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
