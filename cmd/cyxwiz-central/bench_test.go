package main

// Benchmarks of the whole server (a real App on loopback gRPC, the embedded
// bbolt event store with fsync on, in-memory read models) and the
// end-to-end check of adapters/nodesim against it. Results and the machine
// they ran on are in docs/benchmarks.md.
//
//	go test ./cmd/cyxwiz-central -run '^$' -bench . -benchtime 20000x
//	go test ./cmd/cyxwiz-central -run TestNodeSimFleet

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/config"
	"github.com/cyxwiz/central-server/adapters/nodesim"
	"github.com/cyxwiz/central-server/eventstore/bolt"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// benchClients is the number of concurrent client goroutines, and
// benchConns the number of gRPC connections they share.
const (
	benchClients = 64
	benchConns   = 4
)

// benchApp is a real server in a temp dir, for benchmarks and tests alike.
type benchApp struct {
	tb    testing.TB
	app   *App
	iss   *auth.Issuer
	conns []*grpc.ClientConn
}

func startBenchApp(tb testing.TB, tweak ...func(*config.Config)) *benchApp {
	tb.Helper()
	cfg := testConfig(tb.TempDir())
	for _, f := range tweak {
		f(&cfg)
	}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	if os.Getenv("CYXWIZ_TEST_LOG") != "" {
		log = slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	app, err := NewApp(cfg, Settings{SchedulerInterval: 50 * time.Millisecond, CheckInterval: 100 * time.Millisecond}, log)
	if err != nil {
		tb.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		tb.Fatal(err)
	}
	a := &benchApp{tb: tb, app: app, iss: auth.NewIssuer([]byte(testSecret), nil)}
	for range benchConns {
		cc, err := grpc.NewClient(app.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
		if err != nil {
			tb.Fatal(err)
		}
		a.conns = append(a.conns, cc)
	}
	tb.Cleanup(func() {
		for _, cc := range a.conns {
			cc.Close()
		}
		if err := app.Stop(); err != nil {
			tb.Errorf("stop: %v", err)
		}
	})
	return a
}

func (a *benchApp) token(sub string) string {
	tok, _, err := a.iss.MintUser(sub, "", "", 2*time.Hour)
	if err != nil {
		a.tb.Fatal(err)
	}
	return tok
}

func (a *benchApp) jobs(i int) pb.JobServiceClient {
	return pb.NewJobServiceClient(a.conns[i%len(a.conns)])
}

// storeStats returns the bolt writer's counters (commits = fsyncs).
func (a *benchApp) storeStats() bolt.Stats {
	if s, ok := a.app.store.(interface{ Stats() bolt.Stats }); ok {
		return s.Stats()
	}
	return bolt.Stats{}
}

// startSimFleet starts n simulated nodes owned by "fleet-owner".
func (a *benchApp) startSimFleet(n int, tune func(i int, c *nodesim.Config)) []*nodesim.Node {
	a.tb.Helper()
	owner := a.token("fleet-owner")
	var nodes []*nodesim.Node
	for i := range n {
		c := nodesim.Config{Conn: a.conns[i%len(a.conns)], OwnerToken: owner, Name: fmt.Sprintf("sim-%02d", i),
			Region: "local", HeartbeatInterval: time.Second}
		if tune != nil {
			tune(i, &c)
		}
		node, err := nodesim.New(c)
		if err != nil {
			a.tb.Fatal(err)
		}
		if err := node.Start(context.Background()); err != nil {
			a.tb.Fatal(err)
		}
		nodes = append(nodes, node)
		a.tb.Cleanup(func() { node.Close() })
	}
	return nodes
}

// benchJob is a job every simulated node can run.
func benchJob(id string) *pb.JobConfig {
	c := trainingJob()
	c.JobId = id
	return c
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) add(d ...time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d...)
	l.mu.Unlock()
}

// quantile returns the q-quantile (nearest rank) in milliseconds.
func (l *latencies) quantile(q float64) float64 {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return 0
	}
	slices.Sort(l.d)
	i := min(len(l.d)-1, max(0, int(q*float64(len(l.d))+0.5)-1))
	return float64(l.d[i].Microseconds()) / 1000
}

// BenchmarkSubmitJob: benchClients goroutines submit b.N jobs over
// benchConns connections; no node is registered, so every job stays
// pending. One op is one acknowledged, durable SubmitJob.
func BenchmarkSubmitJob(b *testing.B) {
	a := startBenchApp(b)
	tokens := make([]string, benchClients)
	for i := range tokens {
		tokens[i] = a.token(fmt.Sprintf("bench-user-%d", i))
	}
	// Warm the connections.
	for i := range benchConns {
		if _, err := a.jobs(i).SubmitJob(as(tokens[i]), &pb.SubmitJobRequest{Config: benchJob("")}); err != nil {
			b.Fatal(err)
		}
	}
	var lat latencies
	var next atomic.Int64
	var failed atomic.Int64
	before := a.storeStats()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range benchClients {
		wg.Go(func() {
			client, ctx := a.jobs(g), as(tokens[g])
			own := make([]time.Duration, 0, b.N/benchClients+1)
			for next.Add(1) <= int64(b.N) {
				t0 := time.Now()
				if _, err := client.SubmitJob(ctx, &pb.SubmitJobRequest{Config: benchJob("")}); err != nil {
					if failed.Add(1) == 1 {
						b.Errorf("SubmitJob: %v", err)
					}
					continue
				}
				own = append(own, time.Since(t0))
			}
			lat.add(own...)
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	after := a.storeStats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(lat.quantile(0.50), "p50-ms")
	b.ReportMetric(lat.quantile(0.99), "p99-ms")
	b.ReportMetric(lat.quantile(1), "max-ms")
	if c := after.Commits - before.Commits; c > 0 {
		b.ReportMetric(float64(after.Events-before.Events)/float64(c), "events/fsync")
	}
}

// BenchmarkLifecycle: 20 simulated nodes with 50 slots each (and
// scheduler.max_jobs_per_node = 50) run jobs with zero training time and
// no progress reports. benchClients goroutines submit b.N jobs, keeping at
// most nodes×slots of them unfinished. One op is one job from SubmitJob to
// its acknowledged ReportJobResult: submit, assign (node slot + job),
// push to the node, accept, complete (job + slot release).
func BenchmarkLifecycle(b *testing.B) {
	const nodes, slots = 20, 50
	a := startBenchApp(b, func(c *config.Config) { c.Scheduler.MaxJobsPerNode = slots })
	var (
		submitted sync.Map // job id → submit time
		lat       latencies
		done      atomic.Int64
		bad       atomic.Int64
		window    = make(chan struct{}, nodes*slots)
		finished  = make(chan struct{})
		total     atomic.Int64
	)
	onDone := func(r nodesim.Result) {
		if r.Outcome != nodesim.OutcomeCompleted && r.Outcome != nodesim.OutcomeFailed {
			bad.Add(1) // requeued or lost: it will end on another node, or not at all
			return
		}
		if t0, ok := submitted.LoadAndDelete(r.JobID); ok {
			lat.add(r.Done.Sub(t0.(time.Time)))
		}
		<-window
		if done.Add(1) == total.Load() {
			close(finished)
		}
	}
	fleet := a.startSimFleet(nodes, func(_ int, c *nodesim.Config) {
		c.MaxConcurrentJobs = slots
		c.OnJobDone = onDone
	})
	tokens := make([]string, benchClients)
	for i := range tokens {
		tokens[i] = a.token(fmt.Sprintf("bench-user-%d", i))
	}
	total.Store(int64(b.N))
	var next atomic.Int64
	before := a.storeStats()
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for g := range benchClients {
		wg.Go(func() {
			client, ctx := a.jobs(g), as(tokens[g])
			for next.Add(1) <= int64(b.N) {
				window <- struct{}{}
				id := uuid.NewString()
				submitted.Store(id, time.Now())
				if _, err := client.SubmitJob(ctx, &pb.SubmitJobRequest{Config: benchJob(id)}); err != nil {
					b.Errorf("SubmitJob: %v", err)
					return
				}
			}
		})
	}
	wg.Wait()
	if b.Failed() {
		return
	}
	select {
	case <-finished:
	case <-time.After(2*time.Minute + time.Duration(b.N)*time.Millisecond):
		b.Fatalf("only %d of %d jobs finished (%d ended off their node)", done.Load(), b.N, bad.Load())
	}
	elapsed := time.Since(start)
	b.StopTimer()
	after := a.storeStats()
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "jobs/s")
	b.ReportMetric(lat.quantile(0.50), "p50-ms")
	b.ReportMetric(lat.quantile(0.99), "p99-ms")
	if c := after.Commits - before.Commits; c > 0 {
		b.ReportMetric(float64(after.Events-before.Events)/float64(b.N), "events/job")
		b.ReportMetric(float64(after.Events-before.Events)/float64(c), "events/fsync")
	}
	a.reportPhases(b)
	var refused uint64
	for _, n := range fleet {
		refused += n.Stats().Refused
	}
	if refused > 0 || bad.Load() > 0 {
		b.Logf("%d assignments refused, %d jobs ended off their node", refused, bad.Load())
	}
}

// reportPhases reads the log and reports, per job, the median and p99 of
// submit → assigned (waiting for the scheduler) and assigned → completed
// (push, node, report), from the times the store recorded the events, and
// how many assignment attempts and node-stream events a job cost.
func (a *benchApp) reportPhases(b *testing.B) {
	type marks struct{ submitted, assigned, completed time.Time }
	jobs := map[string]*marks{}
	var assigns, nodeEvents int
	ctx := context.Background()
	for after := uint64(0); ; {
		recs, err := a.app.store.ReadAll(ctx, after, 4096)
		if err != nil {
			b.Fatal(err)
		}
		if len(recs) == 0 {
			break
		}
		for _, r := range recs {
			after = r.Position
			if strings.HasPrefix(r.Stream, "node-") {
				nodeEvents++
				continue
			}
			m := jobs[r.Stream]
			if m == nil {
				m = &marks{}
				jobs[r.Stream] = m
			}
			switch r.Type {
			case "JobSubmitted":
				m.submitted = r.Recorded
			case "JobAssigned":
				assigns++
				m.assigned = r.Recorded
			case "JobCompleted", "JobFailed":
				m.completed = r.Recorded
			}
		}
	}
	var queue, run latencies
	n := 0
	for _, m := range jobs {
		if m.submitted.IsZero() || m.assigned.IsZero() || m.completed.IsZero() {
			continue
		}
		n++
		queue.add(m.assigned.Sub(m.submitted))
		run.add(m.completed.Sub(m.assigned))
	}
	if n == 0 {
		return
	}
	b.ReportMetric(queue.quantile(0.5), "queue-p50-ms")
	b.ReportMetric(queue.quantile(0.99), "queue-p99-ms")
	b.ReportMetric(run.quantile(0.5), "run-p50-ms")
	b.ReportMetric(run.quantile(0.99), "run-p99-ms")
	b.ReportMetric(float64(assigns)/float64(n), "assigns/job")
	b.ReportMetric(float64(nodeEvents)/float64(n), "node-events/job")
}

// TestNodeSimFleet runs adapters/nodesim against the real server: five
// simulated nodes, fifty jobs with progress reports and a 20% failure
// rate; every job reaches a terminal state, the server and the nodes agree
// on the outcome, and the failure rate is roughly the one asked for.
func TestNodeSimFleet(t *testing.T) {
	const nodes, jobs, failP = 5, 50, 0.2
	a := startBenchApp(t)
	fleet := a.startSimFleet(nodes, func(i int, c *nodesim.Config) {
		c.TrainDuration = 30 * time.Millisecond
		c.ProgressReports = 2
		c.NotifyAccepted = i%2 == 0
		if i%2 == 1 {
			c.ProgressRPC = nodesim.ProgressReportProgress
		}
		c.FailureProbability = failP
		c.Rand = rand.New(rand.NewPCG(uint64(i), 42))
		c.HeartbeatInterval = 100 * time.Millisecond
	})
	alice := a.token("alice")
	ids := make([]string, jobs)
	for i := range ids {
		resp, err := a.jobs(i).SubmitJob(as(alice), &pb.SubmitJobRequest{Config: benchJob("")})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = resp.GetJobId()
	}
	final := map[string]pb.StatusCode{}
	eventually(t, 30*time.Second, "every job terminal", func() bool {
		for _, id := range ids {
			if _, ok := final[id]; ok {
				continue
			}
			resp, err := a.jobs(0).GetJobStatus(as(alice), &pb.GetJobStatusRequest{JobId: id})
			if err != nil {
				t.Fatalf("GetJobStatus: %v", err)
			}
			switch st := resp.GetStatus().GetStatus(); st {
			case pb.StatusCode_STATUS_COMPLETED, pb.StatusCode_STATUS_FAILED, pb.StatusCode_STATUS_CANCELLED:
				final[id] = st
			}
		}
		return len(final) == jobs
	})
	var serverDone, serverFailed int
	for _, st := range final {
		switch st {
		case pb.StatusCode_STATUS_COMPLETED:
			serverDone++
		case pb.StatusCode_STATUS_FAILED:
			serverFailed++
		default:
			t.Errorf("a job ended %v", st)
		}
	}
	var sum nodesim.Stats
	used := 0
	eventually(t, 5*time.Second, "node counters settle", func() bool {
		sum, used = nodesim.Stats{}, 0
		for _, n := range fleet {
			st := n.Stats()
			sum.Accepted += st.Accepted
			sum.Refused += st.Refused
			sum.Completed += st.Completed
			sum.Failed += st.Failed
			sum.Cancelled += st.Cancelled
			if st.Accepted > 0 {
				used++
			}
		}
		return int(sum.Completed+sum.Failed) == jobs
	})
	if int(sum.Completed) != serverDone || int(sum.Failed) != serverFailed || sum.Accepted != jobs || sum.Refused != 0 || sum.Cancelled != 0 {
		t.Fatalf("nodes say %+v; server says %d completed, %d failed", sum, serverDone, serverFailed)
	}
	// Binomial(50, 0.2): mean 10, sd 2.8; the bounds are > 3 sd wide.
	if serverFailed < 1 || serverFailed > 22 {
		t.Fatalf("%d of %d jobs failed with p=%.1f", serverFailed, jobs, failP)
	}
	if used < 2 {
		t.Fatalf("the scheduler used %d of %d nodes", used, nodes)
	}
	t.Logf("%d completed, %d failed, on %d nodes", serverDone, serverFailed, used)
}
