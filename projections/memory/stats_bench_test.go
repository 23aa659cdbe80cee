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

// statsModel holds jobs jobs submitted evenly over two days on nodes
// nodes: most completed, some failed, cancelled, running or pending.
func statsModel(b *testing.B, jobs, nodes int) (*memory.Model, time.Time) {
	b.Helper()
	h := readmodeltest.NewHistory()
	envs := make([]projections.Envelope, 0, 2*nodes+4*jobs)
	for i := range nodes {
		id := fmt.Sprintf("node-%05d", i)
		envs = append(envs, h.Envelopes(
			domain.NodeRegistered{NodeID: id, Owner: "op", Spec: readmodeltest.NodeSpec(id, "eu", 1, readmodeltest.GPU(8*readmodeltest.GiB)), Reputation: 0.5},
			domain.NodeWentOnline{NodeID: id})...)
	}
	const span = 48 * time.Hour
	step := span / time.Duration(jobs)
	for i := range jobs {
		id := fmt.Sprintf("job-%07d", i)
		node := fmt.Sprintf("node-%05d", i%nodes)
		at := readmodeltest.T0.Add(time.Duration(i) * step).Truncate(time.Millisecond)
		rec := func(e domain.Event) { envs = append(envs, h.EnvelopeAt(at, e)) }
		rec(domain.JobSubmitted{JobID: id, Owner: "u", At: at,
			Spec: readmodeltest.JobSpec(domain.JobTypeTraining, domain.Priority(i%4), domain.DeviceCUDA, readmodeltest.GiB)})
		switch i % 20 {
		case 0: // pending
		case 1:
			rec(domain.JobCancelled{JobID: id, By: "u", At: at})
		default:
			rec(domain.JobAssigned{JobID: id, NodeID: node, Attempt: 1, At: at})
			rec(domain.JobStarted{JobID: id, NodeID: node, At: at})
			switch {
			case i%20 == 2: // running
			case i%20 == 3:
				rec(domain.JobFailed{JobID: id, NodeID: node, Reason: "oom", At: at})
			default:
				rec(domain.JobCompleted{JobID: id, NodeID: node, At: at})
			}
		}
	}
	m := memory.New(memory.Config{})
	if err := m.Apply(context.Background(), envs, h.Position()); err != nil {
		b.Fatal(err)
	}
	return m, readmodeltest.T0.Add(span)
}

// BenchmarkNetworkStats shows that NetworkStats reads counters, not jobs:
// its cost is the same for 10,000 and 100,000 jobs (and 1,000 or 10,000
// nodes).
func BenchmarkNetworkStats(b *testing.B) {
	for _, size := range []struct{ jobs, nodes int }{{10_000, 1_000}, {100_000, 10_000}} {
		b.Run(fmt.Sprintf("jobs=%d/nodes=%d", size.jobs, size.nodes), func(b *testing.B) {
			m, now := statsModel(b, size.jobs, size.nodes)
			ctx := context.Background()
			s, err := m.NetworkStats(ctx, now)
			if err != nil {
				b.Fatal(err)
			}
			if s.JobsTotal != size.jobs || s.NodesOnline != size.nodes || s.JobsCompleted24h == 0 {
				b.Fatalf("unexpected stats %+v", s)
			}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := m.NetworkStats(ctx, now); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkActivity reads a page of the activity log of a big model.
func BenchmarkActivity(b *testing.B) {
	m, _ := statsModel(b, 100_000, 10_000)
	ctx := context.Background()
	newest, err := m.RecentActivity(ctx, 1, 0)
	if err != nil || len(newest) != 1 {
		b.Fatalf("%v, %v", newest, err)
	}
	b.Run("newest-50", func(b *testing.B) {
		for b.Loop() {
			if _, err := m.RecentActivity(ctx, 50, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("50-before-the-middle", func(b *testing.B) {
		before := newest[0].Position - memory.DefaultMaxActivity/2
		for b.Loop() {
			if _, err := m.RecentActivity(ctx, 50, before); err != nil {
				b.Fatal(err)
			}
		}
	})
}
