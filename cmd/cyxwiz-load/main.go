// Command cyxwiz-load drives a running CyxWiz central server on loopback
// and reports throughput and latency.
//
//	cyxwiz-load -mode submit    -addr 127.0.0.1:50051 -secret $CYXWIZ_JWT_SECRET -c 64 -n 20000
//	cyxwiz-load -mode lifecycle -addr 127.0.0.1:50051 -secret $CYXWIZ_JWT_SECRET -nodes 20 -slots 50 -n 10000
//
// Mode submit: C concurrent clients call SubmitJob; it reports jobs/s and
// latency p50/p90/p99/max. No node is started, so the jobs stay pending
// (or run on whatever nodes the server has).
//
// Mode lifecycle: it starts K simulated nodes (adapters/nodesim, zero
// training time by default) that register with the server, then C clients
// submit jobs, keeping at most -window of them unfinished, and it measures
// completed jobs/s end to end and the latency from SubmitJob to the
// terminal state. -observe says where the terminal state is seen: "node"
// (the node's ReportJobResult was acknowledged, so the terminal event is
// durable; cheapest), "stream" (StreamJobUpdates per job, as a client
// would), or "poll" (GetJobStatus every -poll).
//
// The run is bounded by -n jobs and -duration, whichever comes first, and
// by -drain for unfinished jobs; it talks to loopback addresses only. The
// server's scheduler.max_jobs_per_node must be at least -slots
// (CYXWIZ_SCHEDULER_MAX_JOBS_PER_NODE) for the nodes' slots to be used.
package main

import (
	"context"
	"crypto/tls"
	"errors"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"os"
	"os/signal"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"text/tabwriter"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/grpcclient"
	"github.com/cyxwiz/central-server/adapters/nodesim"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"github.com/google/uuid"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	os.Exit(run(ctx, os.Args[1:], os.Stdout, os.Stderr))
}

// options are the command line.
type options struct {
	addr, token, secret, mode, observe string
	clients, conns, n                  int
	duration, drain, poll              time.Duration
	nodes, slots, window, progress     int
	train                              time.Duration
	failP                              float64
	seed                               uint64
	portOffset                         int
	tls                                tlsconf.ClientFiles
}

// Limits that keep a run bounded whatever the flags say.
const (
	maxJobs     = 2_000_000
	maxDuration = time.Hour
	maxClients  = 4096
	maxNodes    = 1000
)

func parse(args []string, stderr io.Writer) (options, error) {
	var o options
	fs := flag.NewFlagSet("cyxwiz-load", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.addr, "addr", "127.0.0.1:50051", "central server gRPC address (loopback only); several replicas: comma-separated, calls spread round-robin and retried on another when one is unavailable")
	fs.StringVar(&o.token, "token", "", "a user token to use for every client and as the nodes' owner")
	fs.StringVar(&o.secret, "secret", "", "the server's JWT secret, to mint tokens (default $CYXWIZ_JWT_SECRET)")
	fs.StringVar(&o.mode, "mode", "submit", "submit | lifecycle")
	fs.IntVar(&o.clients, "c", 64, "concurrent clients")
	fs.IntVar(&o.conns, "conns", 4, "gRPC connections the clients share")
	fs.IntVar(&o.n, "n", 10000, "jobs to submit (upper bound)")
	fs.DurationVar(&o.duration, "duration", time.Minute, "stop submitting after this long (upper bound)")
	fs.DurationVar(&o.drain, "drain", 30*time.Second, "lifecycle: how long to wait for unfinished jobs after the last submit")
	fs.IntVar(&o.nodes, "nodes", 20, "lifecycle: simulated nodes")
	fs.IntVar(&o.slots, "slots", 50, "lifecycle: concurrent jobs per node (≤ the server's max_jobs_per_node)")
	fs.IntVar(&o.window, "window", 0, "lifecycle: most unfinished jobs at a time (default nodes×slots)")
	fs.IntVar(&o.progress, "progress", 0, "lifecycle: progress reports per job")
	fs.DurationVar(&o.train, "train", 0, "lifecycle: training time per job")
	fs.Float64Var(&o.failP, "fail", 0, "lifecycle: probability that a node reports failure")
	fs.Uint64Var(&o.seed, "seed", 1, "lifecycle: seed of the nodes' failure draws")
	fs.StringVar(&o.observe, "observe", "node", "lifecycle: where completion is seen: node | stream | poll")
	fs.DurationVar(&o.poll, "poll", 20*time.Millisecond, "lifecycle, -observe poll: GetJobStatus interval")
	fs.IntVar(&o.portOffset, "port-offset", 3, "lifecycle: node control port minus advertised port (the server's node_control_port_offset)")
	o.tls.Register(fs) // lifecycle with --cert: the nodes' owner is the certificate's CN, and they serve AssignJob with it
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected arguments: %v", fs.Args())
	}
	if o.secret == "" {
		o.secret = os.Getenv("CYXWIZ_JWT_SECRET")
	}
	switch {
	case o.mode != "submit" && o.mode != "lifecycle":
		return o, fmt.Errorf("-mode %q: use submit or lifecycle", o.mode)
	case o.observe != "node" && o.observe != "stream" && o.observe != "poll":
		return o, fmt.Errorf("-observe %q: use node, stream or poll", o.observe)
	case o.token == "" && o.secret == "":
		return o, errors.New("give -token, or -secret (or CYXWIZ_JWT_SECRET) to mint tokens")
	case o.clients < 1 || o.clients > maxClients:
		return o, fmt.Errorf("-c must be within 1..%d", maxClients)
	case o.conns < 1 || o.conns > 64:
		return o, errors.New("-conns must be within 1..64")
	case o.n < 1 || o.n > maxJobs:
		return o, fmt.Errorf("-n must be within 1..%d", maxJobs)
	case o.duration <= 0 || o.duration > maxDuration:
		return o, fmt.Errorf("-duration must be within 0..%s", maxDuration)
	case o.drain < 0 || o.drain > maxDuration:
		return o, fmt.Errorf("-drain must be within 0..%s", maxDuration)
	case o.nodes < 1 || o.nodes > maxNodes:
		return o, fmt.Errorf("-nodes must be within 1..%d", maxNodes)
	case o.slots < 1 || o.slots > 10000:
		return o, errors.New("-slots must be within 1..10000")
	case o.window < 0 || o.progress < 0 || o.train < 0 || o.poll <= 0:
		return o, errors.New("-window, -progress and -train must be ≥ 0, -poll > 0")
	case o.failP < 0 || o.failP > 1:
		return o, errors.New("-fail must be within 0..1")
	}
	if o.window == 0 {
		o.window = o.nodes * o.slots
	}
	if err := loopbackOnly(o.addr); err != nil {
		return o, err
	}
	return o, nil
}

// loopbackOnly refuses any address that is not on this machine's
// loopback; a comma-separated list (several replicas) is checked address
// by address.
func loopbackOnly(addrs string) error {
	for addr := range strings.SplitSeq(addrs, ",") {
		if err := loopbackAddr(strings.TrimSpace(addr)); err != nil {
			return err
		}
	}
	return nil
}

func loopbackAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	ip := net.ParseIP(host)
	if ip == nil || !ip.IsLoopback() {
		return fmt.Errorf("-addr %q: this tool drives loopback servers only (127.0.0.0/8, ::1, localhost)", addr)
	}
	return nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	o, err := parse(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 2
	}
	if err != nil {
		fmt.Fprintf(stderr, "cyxwiz-load: %v\n", err)
		return 2
	}
	l, err := newLoad(o)
	if err != nil {
		fmt.Fprintf(stderr, "cyxwiz-load: %v\n", err)
		return 1
	}
	defer l.close()
	var rep report
	if o.mode == "submit" {
		rep, err = l.submit(ctx)
	} else {
		rep, err = l.lifecycle(ctx, stderr)
	}
	rep.print(stdout)
	if err != nil {
		fmt.Fprintf(stderr, "cyxwiz-load: %v\n", err)
		return 1
	}
	if rep.errors > 0 || rep.lost > 0 {
		return 1
	}
	return 0
}

// load holds the connections and tokens of one run.
type load struct {
	o          options
	controlTLS *tls.Config // the nodes' AssignJob endpoint (nil: plaintext)
	conns      []*grpc.ClientConn
	tokens     []string // one per client
	owner      string   // the nodes' owner
}

func newLoad(o options) (*load, error) {
	l := &load{o: o}
	var iss *auth.Issuer
	if o.token == "" {
		iss = auth.NewIssuer([]byte(o.secret), nil)
	}
	mint := func(sub string) (string, error) {
		if iss == nil {
			return o.token, nil
		}
		tok, _, err := iss.MintUser(sub, "", "", o.duration+o.drain+time.Hour)
		return tok, err
	}
	for i := range o.clients {
		tok, err := mint(fmt.Sprintf("load-client-%d", i))
		if err != nil {
			return nil, err
		}
		l.tokens = append(l.tokens, tok)
	}
	ownerSub := "load-node-owner"
	if o.tls.Cert != "" {
		c, err := o.tls.ServerConfig()
		if err != nil {
			return nil, err
		}
		l.controlTLS, ownerSub = c, c.Certificates[0].Leaf.Subject.CommonName
	}
	var err error
	if l.owner, err = mint(ownerSub); err != nil {
		return nil, err
	}
	transport, err := o.tls.DialOption()
	if err != nil {
		return nil, err
	}
	for range o.conns {
		cc, err := grpcclient.Dial(o.addr, transport)
		if err != nil {
			l.close()
			return nil, err
		}
		l.conns = append(l.conns, cc)
	}
	return l, nil
}

func (l *load) close() {
	for _, cc := range l.conns {
		cc.Close()
	}
}

func (l *load) jobs(i int) pb.JobServiceClient {
	return pb.NewJobServiceClient(l.conns[i%len(l.conns)])
}

func bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}

// job is what every client submits: a small training job any simulated
// node (one CUDA GPU, 24 GiB) can run.
func job(id string) *pb.JobConfig {
	return &pb.JobConfig{JobId: id, JobType: pb.JobType_JOB_TYPE_TRAINING, Priority: pb.JobPriority_PRIORITY_NORMAL,
		RequiredDevice: pb.DeviceType_DEVICE_CUDA, EstimatedMemory: 4 << 30, Epochs: 3, BatchSize: 32,
		ModelDefinition: "load-test", DatasetUri: "sim://dataset"}
}

// ping checks the server answers before the clock starts.
func (l *load) ping(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	_, err := l.jobs(0).ListJobs(bearer(ctx, l.tokens[0]), &pb.ListJobsRequest{PageSize: 1}, grpc.WaitForReady(true))
	if err != nil {
		return fmt.Errorf("server at %s does not answer ListJobs: %w", l.o.addr, err)
	}
	return nil
}

// errorCounts counts failed calls by gRPC code.
type errorCounts struct {
	mu    sync.Mutex
	codes map[codes.Code]int
	first error
}

func (e *errorCounts) add(err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.codes == nil {
		e.codes = map[codes.Code]int{}
	}
	e.codes[status.Code(err)]++
	if e.first == nil {
		e.first = err
	}
}

func (e *errorCounts) String() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var parts []string
	for c, n := range e.codes {
		parts = append(parts, fmt.Sprintf("%s×%d", c, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, " ")
}

// submit runs mode submit.
func (l *load) submit(ctx context.Context) (report, error) {
	rep := report{mode: "submit", o: l.o}
	if err := l.ping(ctx); err != nil {
		return rep, err
	}
	ctx, cancel := context.WithTimeout(ctx, l.o.duration)
	defer cancel()
	var (
		next atomic.Int64
		lat  latencies
		errs errorCounts
		wg   sync.WaitGroup
	)
	start := time.Now()
	for g := range l.o.clients {
		wg.Go(func() {
			client, cctx := l.jobs(g), bearer(ctx, l.tokens[g])
			own := make([]time.Duration, 0, l.o.n/l.o.clients+1)
			for ctx.Err() == nil && next.Add(1) <= int64(l.o.n) {
				t0 := time.Now()
				_, err := client.SubmitJob(cctx, &pb.SubmitJobRequest{Config: job("")})
				if err != nil {
					if ctx.Err() == nil {
						errs.add(err)
					}
					continue
				}
				own = append(own, time.Since(t0))
			}
			lat.add(own...)
		})
	}
	wg.Wait()
	rep.elapsed = time.Since(start)
	rep.done = lat.len()
	rep.errors = errs.total()
	rep.errText = errs.String()
	rep.lat = lat.summary()
	rep.stopped = stopReason(ctx, rep.done+rep.errors, l.o.n)
	return rep, nil
}

func (e *errorCounts) total() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	n := 0
	for _, c := range e.codes {
		n += c
	}
	return n
}

func stopReason(ctx context.Context, did, want int) string {
	switch {
	case did >= want:
		return "count reached"
	case errors.Is(context.Cause(ctx), context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded):
		return "duration reached"
	case ctx.Err() != nil:
		return "interrupted"
	}
	return "stopped"
}

// lifecycle runs mode lifecycle: start the fleet, submit through a window
// of jobs in flight, watch each to its end, drain, report.
func (l *load) lifecycle(parent context.Context, stderr io.Writer) (report, error) {
	rep := report{mode: "lifecycle", o: l.o}
	if err := l.ping(parent); err != nil {
		return rep, err
	}
	r := &lifecycleRun{load: l, parent: parent, window: make(chan struct{}, l.o.window)}
	defer r.closeFleet()
	if err := r.startFleet(); err != nil {
		return rep, err
	}
	fmt.Fprintf(stderr, "cyxwiz-load: %d simulated nodes registered (%d slots each); submitting\n", len(r.fleet), l.o.slots)

	ctx, cancel := context.WithTimeout(parent, l.o.duration)
	defer cancel()
	start := time.Now()
	r.submitAll(ctx)
	rep.stopped = stopReason(ctx, int(r.subs.Load())+r.errs.total(), l.o.n)
	end := r.drain()
	cancel()
	r.watchers.Wait()
	r.fill(&rep, end.Sub(start))
	return rep, nil
}

// lifecycleRun is the state of one lifecycle run, shared by the
// submitters, the watchers and the simulated nodes.
type lifecycleRun struct {
	*load
	parent    context.Context
	fleet     []*nodesim.Node
	submitted sync.Map // job id → submit time
	lat       latencies
	errs      errorCounts
	window    chan struct{} // a slot per job in flight
	subs      atomic.Int64
	doneJobs  atomic.Int64
	failed    atomic.Int64
	requeued  atomic.Int64
	abandoned atomic.Int64
	lastDone  atomic.Int64 // unix nanos of the last terminal state seen
	watchers  sync.WaitGroup
}

// finish records a job's end and frees its window slot, once (a node and a
// watcher may both see it).
func (r *lifecycleRun) finish(id string, ok bool, at time.Time) {
	t0, found := r.submitted.LoadAndDelete(id)
	if !found {
		return
	}
	r.lat.add(at.Sub(t0.(time.Time)))
	r.doneJobs.Add(1)
	if !ok {
		r.failed.Add(1)
	}
	r.lastDone.Store(at.UnixNano())
	<-r.window
}

// abandon frees the window slot of a job whose watcher gave up; the job
// counts as lost.
func (r *lifecycleRun) abandon(id string) {
	if _, found := r.submitted.LoadAndDelete(id); found {
		r.abandoned.Add(1)
		<-r.window
	}
}

// onNode is a simulated node's report of a job it ran.
func (r *lifecycleRun) onNode(res nodesim.Result) {
	switch res.Outcome {
	case nodesim.OutcomeCompleted, nodesim.OutcomeFailed:
		if r.o.observe == "node" {
			r.finish(res.JobID, res.Outcome == nodesim.OutcomeCompleted, res.Done)
		}
	case nodesim.OutcomeCancelled:
		r.requeued.Add(1)
	case nodesim.OutcomeError:
		r.errs.add(res.Err)
	}
}

// startFleet registers the simulated nodes.
func (r *lifecycleRun) startFleet() error {
	for i := range r.o.nodes {
		n, err := nodesim.New(nodesim.Config{
			Conn: r.conns[i%len(r.conns)], ControlTLS: r.controlTLS, OwnerToken: r.owner, Name: fmt.Sprintf("load-sim-%03d", i),
			PortOffset: r.o.portOffset, Region: "local", HeartbeatInterval: 2 * time.Second,
			MaxConcurrentJobs: r.o.slots, TrainDuration: r.o.train, ProgressReports: r.o.progress,
			FailureProbability: r.o.failP, Rand: rand.New(rand.NewPCG(r.o.seed, uint64(i))), OnJobDone: r.onNode,
		})
		if err != nil {
			return err
		}
		if err := n.Start(r.parent); err != nil {
			return fmt.Errorf("start simulated node %d: %w", i, err)
		}
		r.fleet = append(r.fleet, n)
	}
	return nil
}

func (r *lifecycleRun) closeFleet() {
	for _, n := range r.fleet {
		n.Close()
	}
}

// submitAll submits from every client until -n jobs or ctx ends, each when
// the window has room, and starts a watcher per job unless the nodes
// report the ends.
func (r *lifecycleRun) submitAll(ctx context.Context) {
	var (
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for g := range r.o.clients {
		wg.Go(func() {
			client, cctx := r.jobs(g), bearer(ctx, r.tokens[g])
			for ctx.Err() == nil && next.Add(1) <= int64(r.o.n) {
				select {
				case r.window <- struct{}{}:
				case <-ctx.Done():
					return
				}
				id := uuid.NewString()
				r.submitted.Store(id, time.Now())
				if _, err := client.SubmitJob(cctx, &pb.SubmitJobRequest{Config: job(id)}); err != nil {
					r.submitted.Delete(id)
					<-r.window
					if ctx.Err() == nil {
						r.errs.add(err)
					}
					continue
				}
				r.subs.Add(1)
				if r.o.observe != "node" {
					r.watchers.Add(1)
					go r.watch(g, id)
				}
			}
		})
	}
	wg.Wait()
}

// terminal reports whether st ends a job, and whether it succeeded.
func terminal(st pb.StatusCode) (end, ok bool) {
	switch st {
	case pb.StatusCode_STATUS_COMPLETED:
		return true, true
	case pb.StatusCode_STATUS_FAILED, pb.StatusCode_STATUS_CANCELLED:
		return true, false
	}
	return false, false
}

// watch follows a job to its end as client g, by stream or by polling
// (-observe), up to -duration plus -drain.
func (r *lifecycleRun) watch(g int, id string) {
	defer r.watchers.Done()
	defer r.abandon(id) // no-op once finished
	ctx, cancel := context.WithTimeout(r.parent, r.o.duration+r.o.drain)
	defer cancel()
	client, cctx := r.jobs(g), bearer(ctx, r.tokens[g])
	if r.o.observe == "stream" {
		r.watchStream(ctx, cctx, client, id)
		return
	}
	t := time.NewTicker(r.o.poll)
	defer t.Stop()
	for {
		resp, err := client.GetJobStatus(cctx, &pb.GetJobStatusRequest{JobId: id})
		if err != nil {
			if ctx.Err() == nil {
				r.errs.add(err)
			}
			return
		}
		if end, ok := terminal(resp.GetStatus().GetStatus()); end {
			r.finish(id, ok, time.Now())
			return
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// watchStream follows a job's update stream to its end.
// ctx bounds the watch; cctx is ctx with the client's token.
func (r *lifecycleRun) watchStream(ctx, cctx context.Context, client pb.JobServiceClient, id string) {
	stream, err := client.StreamJobUpdates(cctx, &pb.GetJobStatusRequest{JobId: id})
	if err != nil {
		r.errs.add(err)
		return
	}
	for {
		u, err := stream.Recv()
		if err != nil {
			if ctx.Err() == nil && err != io.EOF {
				r.errs.add(err)
			}
			return
		}
		if end, ok := terminal(u.GetStatus().GetStatus()); end {
			r.finish(id, ok, time.Now())
			return
		}
	}
}

// drain waits for the unfinished jobs, up to -drain, and returns when the
// last job ended (now if none did).
func (r *lifecycleRun) drain() time.Time {
	deadline := time.After(r.o.drain)
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
wait:
	for r.doneJobs.Load()+r.abandoned.Load() < r.subs.Load() {
		select {
		case <-deadline:
			break wait
		case <-r.parent.Done():
			break wait
		case <-tick.C:
		}
	}
	if last := r.lastDone.Load(); last > 0 {
		return time.Unix(0, last)
	}
	return time.Now()
}

// fill writes the run's counts into rep.
func (r *lifecycleRun) fill(rep *report, elapsed time.Duration) {
	rep.elapsed = elapsed
	rep.submitted = int(r.subs.Load())
	rep.done = int(r.doneJobs.Load())
	rep.failed = int(r.failed.Load())
	rep.lost = rep.submitted - rep.done
	rep.requeued = int(r.requeued.Load())
	rep.errors = r.errs.total()
	rep.errText = r.errs.String()
	rep.lat = r.lat.summary()
	for _, n := range r.fleet {
		rep.refused += int(n.Stats().Refused)
	}
}

// latencies collects durations from many goroutines.
type latencies struct {
	mu sync.Mutex
	d  []time.Duration
}

func (l *latencies) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.d)
}

func (l *latencies) add(d ...time.Duration) {
	l.mu.Lock()
	l.d = append(l.d, d...)
	l.mu.Unlock()
}

// summary is p50, p90, p99 and max.
type summary struct{ p50, p90, p99, max time.Duration }

func (l *latencies) summary() summary {
	l.mu.Lock()
	defer l.mu.Unlock()
	if len(l.d) == 0 {
		return summary{}
	}
	slices.Sort(l.d)
	q := func(p float64) time.Duration {
		return l.d[min(len(l.d)-1, max(0, int(p*float64(len(l.d))+0.5)-1))]
	}
	return summary{q(0.50), q(0.90), q(0.99), l.d[len(l.d)-1]}
}

// report is what a run prints.
type report struct {
	mode      string
	o         options
	elapsed   time.Duration
	submitted int // lifecycle
	done      int // submit: acknowledged SubmitJob; lifecycle: terminal jobs
	failed    int
	lost      int // lifecycle: submitted but not seen terminal within -drain
	requeued  int
	refused   int
	errors    int
	errText   string
	lat       summary
	stopped   string
}

func ms(d time.Duration) string { return fmt.Sprintf("%.2f ms", float64(d.Microseconds())/1000) }

func (r report) rate() float64 {
	if r.elapsed <= 0 {
		return 0
	}
	return float64(r.done) / r.elapsed.Seconds()
}

func (r report) print(w io.Writer) {
	if r.mode == "submit" {
		fmt.Fprintf(w, "submit: %d jobs in %s = %.0f jobs/s; latency p50 %s p90 %s p99 %s max %s; %d errors (%s, %d clients)\n",
			r.done, r.elapsed.Round(time.Millisecond), r.rate(), ms(r.lat.p50), ms(r.lat.p90), ms(r.lat.p99), ms(r.lat.max),
			r.errors, r.stopped, r.o.clients)
	} else {
		fmt.Fprintf(w, "lifecycle: %d of %d jobs terminal in %s = %.0f jobs/s; submit→terminal p50 %s p99 %s; %d failed, %d lost, %d errors (%s, %d nodes × %d slots, observed at %s)\n",
			r.done, r.submitted, r.elapsed.Round(time.Millisecond), r.rate(), ms(r.lat.p50), ms(r.lat.p99),
			r.failed, r.lost, r.errors, r.stopped, r.o.nodes, r.o.slots, r.o.observe)
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "metric\tvalue")
	row := func(k string, v any) { fmt.Fprintf(tw, "%s\t%v\n", k, v) }
	row("mode", r.mode)
	row("server", r.o.addr)
	row("clients", fmt.Sprintf("%d on %d connections", r.o.clients, r.o.conns))
	if r.mode == "lifecycle" {
		row("nodes × slots", fmt.Sprintf("%d × %d (window %d)", r.o.nodes, r.o.slots, r.o.window))
		row("training", fmt.Sprintf("%s, %d progress reports, failure p=%.2f", r.o.train, r.o.progress, r.o.failP))
		row("submitted", r.submitted)
		row("terminal", r.done)
		row("  of which failed", r.failed)
		row("not terminal after drain", r.lost)
		row("requeued/cancelled on a node", r.requeued)
		row("assignments refused", r.refused)
	} else {
		row("acknowledged", r.done)
	}
	row("errors", fmt.Sprintf("%d %s", r.errors, r.errText))
	row("elapsed", r.elapsed.Round(time.Millisecond))
	row("throughput", fmt.Sprintf("%.0f jobs/s", r.rate()))
	what := "SubmitJob latency"
	if r.mode == "lifecycle" {
		what = "submit→terminal"
	}
	row(what+" p50", ms(r.lat.p50))
	row(what+" p90", ms(r.lat.p90))
	row(what+" p99", ms(r.lat.p99))
	row(what+" max", ms(r.lat.max))
	row("stopped", r.stopped)
	tw.Flush()
}
