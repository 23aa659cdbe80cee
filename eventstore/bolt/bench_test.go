package bolt_test

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/eventstore"
	"github.com/google/uuid"
)

// BenchmarkAppend measures durable (fsync on) appends of one event each
// by 1, 16 and 256 concurrent appenders, each on a stream of its own that
// grows for the whole run. One op is one append.
func BenchmarkAppend(b *testing.B) {
	for _, appenders := range []int{1, 16, 256} {
		b.Run(fmt.Sprintf("appenders=%d", appenders), func(b *testing.B) {
			benchAppend(b, appenders, 0)
		})
	}
}

// BenchmarkAppendJobStreams is BenchmarkAppend at 256 appenders with the
// shape of job streams: each appender starts a new stream every 10 events.
func BenchmarkAppendJobStreams(b *testing.B) {
	benchAppend(b, 256, 10)
}

// benchAppend runs b.N one-event appends from appenders goroutines. With
// streamLen > 0 each appender moves to a new stream every streamLen events.
// It reports acknowledged events/s, events per commit (the group-commit
// gain) and, where the OS tells, the process's CPU time per event.
func benchAppend(b *testing.B, appenders, streamLen int) {
	st := open(b, filepath.Join(b.TempDir(), "events.db"))
	defer st.Close()
	data := []byte(`{"job_id":"7d1c0e2a-5b7c-4a8e-9f3e-1b2c3d4e5f60","progress":0.42,"node":"node-17"}`)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ResetTimer()
	cpu0, start := processCPU(), time.Now()
	for g := range appenders {
		wg.Go(func() {
			stream := fmt.Sprintf("job-%d", g)
			for i := 0; next.Add(1) <= int64(b.N); i++ {
				if streamLen > 0 && i%streamLen == 0 {
					stream = "job-" + uuid.NewString()
				}
				e := eventstore.EventData{ID: uuid.NewString(), Type: "JobProgressed", Data: data}
				if _, err := st.Append(b.Context(), stream, eventstore.Any(), e); err != nil {
					b.Error(err)
					return
				}
			}
		})
	}
	wg.Wait()
	elapsed, cpu := time.Since(start), processCPU()-cpu0
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "events/s")
	if stats := st.Stats(); stats.Commits > 0 {
		b.ReportMetric(float64(stats.Events)/float64(stats.Commits), "events/commit")
	}
	if cpu > 0 {
		b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/event")
	}
}

// BenchmarkFsync measures the disk under the store: one 4 KiB write and
// fsync of a small file per op.
func BenchmarkFsync(b *testing.B) {
	f, err := os.Create(filepath.Join(b.TempDir(), "fsync"))
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	page := make([]byte, 4096)
	start := time.Now()
	n := 0
	for b.Loop() {
		if _, err := f.WriteAt(page, 0); err != nil {
			b.Fatal(err)
		}
		if err := f.Sync(); err != nil {
			b.Fatal(err)
		}
		n++
	}
	b.ReportMetric(float64(n)/time.Since(start).Seconds(), "fsyncs/s")
}
