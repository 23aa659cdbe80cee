package postgres

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
)

// BenchmarkReplay applies a realistic history (readmodeltest.Realistic:
// about 12 events per job, mostly progress reports, with node metrics,
// reputation and reservations; 1,000 nodes) to an empty PostgreSQL model
// in batches, as the runner does at start: one transaction per batch. The
// figure to watch is events/s (target ≥ 30,000).
func BenchmarkReplay(b *testing.B) {
	for _, n := range []int{100_000, 1_000_000} {
		envs := readmodeltest.Realistic(n, 1000, 1)
		for _, batch := range []int{512, 2048} {
			b.Run(fmt.Sprintf("events=%d/batch=%d", n, batch), func(b *testing.B) {
				ctx := context.Background()
				b.ReportAllocs()
				for i := 0; i < b.N; i++ {
					b.StopTimer()
					m := newTestModel(b)
					b.StartTimer()
					for j := 0; j < len(envs); j += batch {
						part := envs[j:min(j+batch, len(envs))]
						if err := m.Apply(ctx, part, part[len(part)-1].Position); err != nil {
							b.Fatal(err)
						}
					}
				}
				b.ReportMetric(float64(len(envs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
			})
		}
	}
}

// BenchmarkRunnerReplay is a start-up replay end to end: the runner reads
// the embedded bbolt log, decodes the JSON payloads and applies batches
// to PostgreSQL until caught up.
func BenchmarkRunnerReplay(b *testing.B) {
	const n = 100_000
	envs := readmodeltest.Realistic(n, 1000, 1)
	path := filepath.Join(b.TempDir(), "events.db")
	writeLog(b, path, envs)
	for _, batch := range []int{512, 2048} {
		b.Run(fmt.Sprintf("events=%d/batch=%d", n, batch), func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				b.StopTimer()
				m := newTestModel(b)
				b.StartTimer()
				project(b, path, m, batch)
			}
			b.ReportMetric(float64(len(envs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
		})
	}
}

// BenchmarkListJobs is one GET /api/jobs page (50 jobs, newest first) from
// a model holding readmodeltest.Realistic's jobs: the statement, its round
// trip and the decoding of the rows, without HTTP.
func BenchmarkListJobs(b *testing.B) {
	envs := readmodeltest.Realistic(200_000, 1000, 1)
	m := newTestModel(b)
	applyBatches(b, m, envs, 2048)
	if _, err := m.Pool().Exec(context.Background(), "ANALYZE"); err != nil {
		b.Fatal(err)
	}
	pending := []domain.JobStatus{domain.JobStatusPending}
	for _, c := range []struct {
		name string
		f    projections.JobFilter
	}{
		{"first", projections.JobFilter{PageSize: 50}},
		{"status=pending", projections.JobFilter{PageSize: 50, Statuses: pending}},
	} {
		b.Run(c.name, func(b *testing.B) {
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, _, _, err := m.ListJobs(ctx, c.f); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
