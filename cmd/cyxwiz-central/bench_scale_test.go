package main

// The scale benchmark: start-up, memory and hot-path costs against a log of
// CYXWIZ_SCALE_JOBS jobs (default: skipped). It builds the history itself,
// straight into the store (not through the command handler), once per size
// in CYXWIZ_SCALE_DIR (default a temp dir), and keeps it there for the
// next run:
//
//	CYXWIZ_SCALE_JOBS=1000000 CYXWIZ_SCALE_DIR=/tmp/scale \
//	  go test ./cmd/cyxwiz-central -run '^$' -bench 'Scale' -benchtime 1x -count 3
//
// A cold start drops the log and the snapshot from the page cache first
// with posix_fadvise(POSIX_FADV_DONTNEED) on each file (what vmtouch -e
// does; clean pages only, which they are once the previous server closed
// them): the next start reads them from the disk. Results are in
// docs/benchmarks.md.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/commands"
	"github.com/cyxwiz/central-server/domain"
	"github.com/cyxwiz/central-server/eventstore"
	"github.com/cyxwiz/central-server/eventstore/bolt"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	"github.com/cyxwiz/central-server/projections/readmodeltest"
	"github.com/google/uuid"
	"golang.org/x/sys/unix"
)

// scaleNodes is the number of nodes in a scale history: registered and
// never online, so the scheduler places nothing during the benchmark.
const scaleNodes = 20

// scaleJobs is the history size the scale benchmarks run at.
func scaleJobs(b *testing.B) int {
	s := os.Getenv("CYXWIZ_SCALE_JOBS")
	if s == "" {
		b.Skip("set CYXWIZ_SCALE_JOBS (e.g. 1000000) to run the scale benchmark")
	}
	n, err := strconv.Atoi(strings.ReplaceAll(s, "_", ""))
	if err != nil || n < 0 {
		b.Fatalf("CYXWIZ_SCALE_JOBS=%q: want a job count", s)
	}
	return n
}

// scalePendingEvery is K in "one job in K is pending" of a scale history:
// CYXWIZ_SCALE_PENDING_EVERY, 50 by default (2: half the jobs queued).
func scalePendingEvery(b *testing.B) int {
	s := os.Getenv("CYXWIZ_SCALE_PENDING_EVERY")
	if s == "" {
		return 50
	}
	k, err := strconv.Atoi(s)
	if err != nil || k < 1 {
		b.Fatalf("CYXWIZ_SCALE_PENDING_EVERY=%q: want a whole number ≥ 1", s)
	}
	return k
}

// scaleDir returns a data dir holding a history of n jobs: all but one in
// scalePendingEvery completed (submitted, assigned, started, completed:
// four events each), the others pending; built on the first call for n.
// Job and node ids are made as the server makes them (commands.NewID:
// time-ordered).
func scaleDir(b *testing.B, n int) string {
	root := os.Getenv("CYXWIZ_SCALE_DIR")
	if root == "" {
		root = b.TempDir()
	}
	k := scalePendingEvery(b)
	dir := filepath.Join(root, fmt.Sprintf("jobs-%d", n))
	if k != 50 {
		dir += fmt.Sprintf("-pending-1in%d", k)
	}
	done := filepath.Join(dir, "built")
	if _, err := os.Stat(done); err == nil {
		return dir
	}
	if err := os.RemoveAll(dir); err != nil {
		b.Fatal(err)
	}
	start := time.Now()
	buildScaleHistory(b, filepath.Join(dir, "events.db"), n, k)
	b.Logf("built a history of %d jobs in %s", n, time.Since(start).Round(time.Second))
	if err := os.WriteFile(done, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	return dir
}

func buildScaleHistory(b *testing.B, path string, n, pendingEvery int) {
	store, err := bolt.Open(path, bolt.WithNoSync())
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	codec := commands.NewCodec()
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	nodes := make([]string, scaleNodes)
	for i := range nodes {
		nodes[i] = commands.NewID()
		ev := domain.NodeRegistered{NodeID: nodes[i], Owner: "fleet-owner", Reputation: domain.InitialReputation, At: at,
			Spec: readmodeltest.NodeSpec(fmt.Sprintf("node-%d", i), "eu-west", 1, readmodeltest.GPU(24<<30))}
		appendEvents(b, store, codec, domain.NodeStream(nodes[i]), ev)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range 64 {
		wg.Go(func() {
			for {
				i := int(next.Add(1)) - 1
				if i >= n {
					return
				}
				id, node := commands.NewID(), nodes[i%len(nodes)]
				t := at.Add(time.Duration(i) * time.Millisecond)
				spec := readmodeltest.JobSpec(domain.JobType(1+i%4), domain.Priority(i%4), domain.DeviceCUDA, 4<<30)
				evs := []any{domain.JobSubmitted{JobID: id, Owner: fmt.Sprintf("user-%d", i%1000), Spec: spec, At: t}}
				if i%pendingEvery != pendingEvery-1 {
					evs = append(evs,
						domain.JobAssigned{JobID: id, NodeID: node, Attempt: 1, Score: 100, At: t},
						domain.JobStarted{JobID: id, NodeID: node, At: t},
						domain.JobCompleted{JobID: id, NodeID: node, Result: domain.JobResult{ComputeTimeMs: 1000}, At: t})
				}
				appendEvents(b, store, codec, domain.JobStream(id), evs...)
			}
		})
	}
	wg.Wait()
}

func appendEvents(b *testing.B, store eventstore.Store, codec *eventstore.Registry, stream string, evs ...any) {
	data := make([]eventstore.EventData, len(evs))
	for i, ev := range evs {
		d, err := codec.NewEvent(uuid.NewString(), ev, eventstore.Metadata{Actor: "scale"})
		if err != nil {
			b.Error(err)
			return
		}
		data[i] = d
	}
	if _, err := store.Append(context.Background(), stream, eventstore.Any(), data...); err != nil {
		b.Error(err)
	}
}

// dropFromPageCache evicts path's clean pages from the page cache.
func dropFromPageCache(b *testing.B, path string) {
	f, err := os.Open(path)
	if os.IsNotExist(err) {
		return
	}
	if err != nil {
		b.Fatal(err)
	}
	defer f.Close()
	if err := unix.Fadvise(int(f.Fd()), 0, 0, unix.FADV_DONTNEED); err != nil {
		b.Fatal(err)
	}
}

// rssMB is the process's resident set in MB, after a GC.
func rssMB() float64 {
	runtime.GC()
	data, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0
	}
	for l := range strings.Lines(string(data)) {
		if f := strings.Fields(l); len(f) >= 2 && f[0] == "VmRSS:" {
			kb, _ := strconv.ParseFloat(f[1], 64)
			return kb / 1024
		}
	}
	return 0
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// startScaleApp starts a server on dir and returns it with the time from
// NewApp to serving.
func startScaleApp(b *testing.B, dir string, snapshots bool) (*App, time.Duration) {
	cfg := testConfig(dir)
	if !snapshots {
		cfg.Database.SnapshotIntervalSeconds = 0
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("CYXWIZ_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	start := time.Now()
	app, err := NewApp(cfg, Settings{}, log)
	if err != nil {
		b.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		b.Fatal(err)
	}
	return app, time.Since(start)
}

// BenchmarkScaleStart: one op is one start of a server on the scale
// history, to serving (gRPC and REST listening, the read model caught up),
// with the page cache warm or cold, from a snapshot or replaying the whole
// log. rss-MB is the process's resident set once it serves (after a GC;
// Go returns freed memory to the system lazily, so a replay's peak
// lingers in it), heap-MB the live heap then.
func BenchmarkScaleStart(b *testing.B) {
	n := scaleJobs(b)
	dir := scaleDir(b, n)
	for _, snap := range []bool{false, true} {
		for _, cold := range []bool{false, true} {
			name := fmt.Sprintf("jobs=%d/snapshot=%v/cold=%v", n, snap, cold)
			b.Run(name, func(b *testing.B) {
				if snap { // make sure the snapshot is of this log, at its end
					app, _ := startScaleApp(b, dir, true)
					if err := app.Stop(); err != nil {
						b.Fatal(err)
					}
				}
				var total time.Duration
				var rss, heap float64
				for b.Loop() {
					if cold {
						dropFromPageCache(b, filepath.Join(dir, "events.db"))
						dropFromPageCache(b, filepath.Join(dir, snapshotFileName))
					}
					app, took := startScaleApp(b, dir, snap)
					total += took
					b.StopTimer()
					rss = max(rss, rssMB())
					var ms runtime.MemStats
					runtime.ReadMemStats(&ms)
					heap = max(heap, float64(ms.HeapAlloc)/(1<<20))
					if err := app.Stop(); err != nil {
						b.Fatal(err)
					}
					b.StartTimer()
				}
				b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "start-ms")
				b.ReportMetric(rss, "rss-MB")
				b.ReportMetric(heap, "heap-MB")
			})
		}
	}
}

// waitQuiet waits (up to 10 minutes) until the process spends under 5 %
// of a core: after a start from a snapshot, the settlement saga still
// reads the log from 0 in the background, and its CPU would be counted
// against the calls measured next.
func waitQuiet(b *testing.B) {
	deadline := time.Now().Add(10 * time.Minute)
	for time.Now().Before(deadline) {
		c0 := cpuTime()
		time.Sleep(time.Second)
		if cpuTime()-c0 < 50*time.Millisecond {
			return
		}
	}
	b.Log("the server never went quiet: figures include background work")
}

// BenchmarkScaleHotPaths: on a server started on the scale history (once
// it is quiet), the
// process CPU per SubmitJob (the command handler in process: the append,
// the projection, the scheduler's reaction; no gRPC), per page of the
// queue a placement pass reads (the part of a pass that could depend on
// the queue's length), per GetJobStatus read (the read model's GetJob) and
// per Heartbeat of an online node (the monitor's lease renewal).
func BenchmarkScaleHotPaths(b *testing.B) {
	n, _ := strconv.Atoi(os.Getenv("CYXWIZ_SCALE_JOBS"))
	var dir string
	if n > 0 {
		dir = scaleDir(b, n)
	} else {
		dir = b.TempDir()
	}
	app, _ := startScaleApp(b, dir, true)
	b.Cleanup(func() { app.Stop() })
	waitQuiet(b)
	ctx := context.Background()
	m := app.model.(*memory.Model)
	b.Run(fmt.Sprintf("jobs=%d/SubmitJob", n), func(b *testing.B) {
		var wg sync.WaitGroup
		var next atomic.Int64
		cpu0 := cpuTime()
		b.ResetTimer()
		for range 32 {
			wg.Go(func() {
				for next.Add(1) <= int64(b.N) {
					spec := readmodeltest.JobSpec(domain.JobTypeTraining, domain.PriorityNormal, domain.DeviceCUDA, 4<<30)
					spec.PaymentAmount, spec.PaymentAddress, spec.EscrowTxHash = 0, "", "" // unpaid: a new job each time
					if _, _, _, err := app.handler.SubmitJob(ctx, commands.SubmitJob{Owner: "bench", Spec: spec}); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
	})
	b.Run(fmt.Sprintf("jobs=%d/QueuePage", n), func(b *testing.B) {
		cpu0 := cpuTime()
		for b.Loop() {
			m.PendingJobsAfter(domain.QueuedJob{}, true, 256)
		}
		b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
		b.ReportMetric(float64(len(m.PendingJobs())), "queued")
	})
	b.Run(fmt.Sprintf("jobs=%d/Heartbeat", n), func(b *testing.B) {
		spec := readmodeltest.NodeSpec("bench-cpu-only", "eu-west", 1) // no device a scale job needs: nothing is placed on it
		node, _, _, err := app.handler.RegisterNode(ctx, commands.RegisterNode{Owner: "bench", Spec: spec})
		if err != nil {
			b.Fatal(err)
		}
		if err := app.monitor.Heartbeat(ctx, node.ID(), nil, 0); err != nil { // marks it online
			b.Fatal(err)
		}
		for b.Loop() {
			if err := app.monitor.Heartbeat(ctx, node.ID(), nil, 0); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run(fmt.Sprintf("jobs=%d/GetJob", n), func(b *testing.B) {
		jobs, _, _, err := m.ListJobs(ctx, projections.JobFilter{PageSize: 1})
		if err != nil || len(jobs) == 0 {
			b.Skipf("no job to read (run with SubmitJob): %v", err)
		}
		for b.Loop() {
			if _, ok, err := m.GetJob(ctx, jobs[0].ID); !ok || err != nil {
				b.Fatal("job not found", err)
			}
		}
	})
}
