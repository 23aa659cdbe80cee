// Package nodesim is a simulated CyxWiz compute node that speaks the real
// wire contract (cyxwiz.protocol) over gRPC. It serves
// NodeService.AssignJob on its control port (advertised port + offset),
// registers with the central server using its owner's user token, keeps
// the session token it is given, heartbeats at an interval, and for each
// accepted assignment "trains" for a configured time while reporting
// progress, then reports a result: success, or failure with a configured
// probability drawn from an injected random source. It can also refuse a
// configured share of assignments, as a node that cannot run a job would.
//
// How the two map to the server: a failure report is terminal (JobFailed:
// the node ran the job and it failed), while a refusal is JobRejected
// followed by JobRequeued (the job goes back to the queue for another node,
// up to scheduler.max_retries, then JobFailed "retries exhausted"). A node
// remembers the jobs it refused and refuses them again, so a requeued job
// can only finish on another node.
//
// It is a library for tests, benchmarks, the load tool and the fleet
// simulator: build a Config, call New, Start, and Close when done. Stats
// reads the counters at any time.
package nodesim

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/cyxwiz/central-server/adapters/grpcclient"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// ProgressRPC selects the call a node reports progress with.
type ProgressRPC int

const (
	// ProgressUpdateJobStatus reports with JobStatusService.UpdateJobStatus (the default).
	ProgressUpdateJobStatus ProgressRPC = iota
	// ProgressReportProgress reports with NodeService.ReportProgress.
	ProgressReportProgress
)

// Defaults applied by New to zero fields of Config.
const (
	DefaultPortOffset        = 3
	DefaultHeartbeatInterval = 5 * time.Second
	DefaultMaxConcurrentJobs = 5 // the server's default scheduler.max_jobs_per_node
	DefaultCallTimeout       = 10 * time.Second
	DefaultReportAttempts    = 5
	DefaultHost              = "127.0.0.1"
)

// RejectReason is the reason a node gives when it refuses a job by
// RejectProbability; the server records it in JobRejected.
const RejectReason = "simulated rejection: this node cannot run the job"

// FailureMessage is the error message of a simulated failure report; the
// server records it in JobFailed.
const FailureMessage = "simulated failure"

// Outcome is how a job ended on the node.
type Outcome int

const (
	// OutcomeCompleted: the node reported success and the server acknowledged it.
	OutcomeCompleted Outcome = iota + 1
	// OutcomeFailed: the node reported a (simulated) failure and the server acknowledged it.
	OutcomeFailed
	// OutcomeCancelled: the server told the node to stop (cancel, requeue,
	// reassignment), or the node was closed before the job ended.
	OutcomeCancelled
	// OutcomeError: the final report could not be delivered.
	OutcomeError
)

// String returns a lower-case name.
func (o Outcome) String() string {
	switch o {
	case OutcomeCompleted:
		return "completed"
	case OutcomeFailed:
		return "failed"
	case OutcomeCancelled:
		return "cancelled"
	case OutcomeError:
		return "error"
	}
	return "Outcome(" + strconv.Itoa(int(o)) + ")"
}

// Result is what OnJobDone is told about one job.
type Result struct {
	JobID    string
	Outcome  Outcome
	Received time.Time // when AssignJob arrived
	Done     time.Time // when the final report was acknowledged (or given up)
	Err      error     // OutcomeError, OutcomeCancelled: why
}

// Config describes one simulated node. Only ServerAddr (or Conn) and
// OwnerToken are required.
type Config struct {
	// ServerAddr is the central server's gRPC address (host:port), or
	// several replicas' (comma-separated) or a dns:/// name: see
	// grpcclient.Dial. Ignored when Conn is set.
	ServerAddr string
	// Conn, when set, is a connection to the central server shared with
	// other nodes (a fleet); the node does not close it.
	Conn *grpc.ClientConn
	// TLS, when set, dials ServerAddr over TLS (with a client certificate
	// naming the owner under mutual TLS); nil dials in plaintext.
	TLS *tls.Config
	// ControlTLS, when set, serves AssignJob over TLS (the server's push
	// with server.tls_node_ca_file); nil serves in plaintext.
	ControlTLS *tls.Config
	// OwnerToken is the owner's user token, sent as the bearer on RegisterNode.
	OwnerToken string
	// NodeID re-registers an existing node (same owner); empty registers a new one.
	NodeID string

	// Name is the node's display name (default "sim-<control port>").
	Name string
	// Host is the address the node listens on (default 127.0.0.1).
	Host string
	// AdvertiseHost is the address sent as NodeInfo.ip_address, which the
	// server pushes assignments to (default Host; 127.0.0.1 when Host is a
	// wildcard such as 0.0.0.0). In a container: the service's host name.
	AdvertiseHost string
	// ControlPort is the port AssignJob is served on; 0 picks a free port.
	// The advertised (P2P) port is ControlPort - PortOffset.
	ControlPort int
	// PortOffset is control port minus advertised port (default 3, the
	// server's scheduler.node_control_port_offset). Any negative value
	// means no offset (control port = advertised port).
	PortOffset int

	// Devices the node advertises (default: one CUDA GPU with 24 GiB VRAM).
	Devices []*pb.DeviceCaps
	// Region the node advertises (default "local").
	Region string
	// WalletAddress is the Solana wallet the node's payouts go to ("" =
	// none).
	WalletAddress string
	// PricePerHour the node asks, in tokens (default 1).
	PricePerHour float64
	// CPUCores and RAMTotal (bytes) advertised (defaults 8 and 32 GiB).
	CPUCores int32
	RAMTotal int64

	// HeartbeatInterval between heartbeats (default 5s).
	HeartbeatInterval time.Duration
	// MaxConcurrentJobs: an assignment above it is refused with
	// accepted=false and a reason (default 5).
	MaxConcurrentJobs int
	// TrainDuration is how long each job "trains" (0: report at once).
	TrainDuration time.Duration
	// ProgressReports is the number of progress reports during training.
	ProgressReports int
	// ProgressRPC selects UpdateJobStatus (default) or ReportProgress.
	ProgressRPC ProgressRPC
	// NotifyAccepted makes the node call NotifyJobAccepted before training.
	NotifyAccepted bool
	// FailureProbability is the chance (0..1) that an accepted job ends in
	// a failure report (terminal on the server).
	FailureProbability float64
	// RejectProbability is the chance (0..1) that the node refuses a job
	// pushed to it for the first time (the server requeues it). A refused
	// job is refused again if it comes back.
	RejectProbability float64
	// Rand draws rejections and failures, in the order assignments arrive;
	// it is used under the node's lock. Default: a randomly seeded PCG.
	Rand *rand.Rand

	// DrainTimeout is how long Close waits for in-flight jobs to finish
	// before it cancels them (default 0: cancel at once).
	DrainTimeout time.Duration
	// CallTimeout bounds each call to the central server (default 10s).
	CallTimeout time.Duration
	// ReportAttempts is how many times a report is tried on transient
	// errors (Unavailable, Aborted, DeadlineExceeded, ResourceExhausted) (default 5).
	ReportAttempts int

	// OnJobDone, when set, is called once per accepted job when it ends,
	// from the job's goroutine. It must not block for long.
	OnJobDone func(Result)
	// Log receives the node's diagnostics (default: discarded).
	Log *slog.Logger
}

// Stats are the node's counters.
type Stats struct {
	Assigned     uint64 // AssignJob calls received (including duplicates)
	Accepted     uint64 // distinct jobs accepted
	Refused      uint64 // assignments refused (at capacity, wrong node, closing)
	Rejected     uint64 // assignments refused by RejectProbability (each push, repeats included)
	Completed    uint64 // success reports acknowledged
	Failed       uint64 // failure reports acknowledged
	Cancelled    uint64 // jobs stopped before their result (server said stop, or Close)
	ReportErrors uint64 // calls to the server that failed (each attempt)
	Heartbeats   uint64 // heartbeats acknowledged
	Active       int    // jobs counted against MaxConcurrentJobs now
}

type counters struct {
	assigned, accepted, refused, rejected, completed, failed, cancelled, reportErrors, heartbeats atomic.Uint64
}

type job struct {
	req      *pb.AssignJobRequest
	id       string
	received time.Time
	fail     bool
	cancel   context.CancelFunc
	probe    chan struct{} // the server listed the job in jobs_to_cancel
	running  bool          // counted against MaxConcurrentJobs
}

// Node is one simulated compute node.
type Node struct {
	pb.UnimplementedNodeServiceServer

	cfg    Config
	log    *slog.Logger
	conn   *grpc.ClientConn
	ownsCC bool
	nodes  pb.NodeServiceClient
	status pb.JobStatusServiceClient

	lis  net.Listener
	srv  *grpc.Server
	port int32 // advertised

	ctx    context.Context // cancelled by Close: stops heartbeats and jobs
	cancel context.CancelFunc
	bg     sync.WaitGroup // heartbeat loop
	jobsWG sync.WaitGroup // job goroutines

	mu      sync.Mutex
	id      string
	session string
	jobs    map[string]*job
	refuses map[string]bool // jobs refused by RejectProbability
	running int
	closing bool
	started bool
	closed  bool
	rng     *rand.Rand

	c counters
}

// New checks cfg, applies defaults and returns a node that is not started.
func New(cfg Config) (*Node, error) {
	if cfg.Conn == nil && cfg.ServerAddr == "" {
		return nil, errors.New("nodesim: ServerAddr or Conn is required")
	}
	if cfg.OwnerToken == "" {
		return nil, errors.New("nodesim: OwnerToken (the owner's user token) is required")
	}
	if !(cfg.FailureProbability >= 0 && cfg.FailureProbability <= 1) { // also catches NaN
		return nil, fmt.Errorf("nodesim: FailureProbability must be within 0..1, got %v", cfg.FailureProbability)
	}
	if !(cfg.RejectProbability >= 0 && cfg.RejectProbability <= 1) {
		return nil, fmt.Errorf("nodesim: RejectProbability must be within 0..1, got %v", cfg.RejectProbability)
	}
	if cfg.TrainDuration < 0 || cfg.ProgressReports < 0 || cfg.MaxConcurrentJobs < 0 || cfg.DrainTimeout < 0 {
		return nil, errors.New("nodesim: TrainDuration, ProgressReports, MaxConcurrentJobs and DrainTimeout must be ≥ 0")
	}
	if cfg.ControlPort < 0 || cfg.ControlPort > 65535 {
		return nil, fmt.Errorf("nodesim: ControlPort must be within 0..65535, got %d", cfg.ControlPort)
	}
	switch {
	case cfg.PortOffset == 0:
		cfg.PortOffset = DefaultPortOffset
	case cfg.PortOffset < 0:
		cfg.PortOffset = 0
	}
	if cfg.Host == "" {
		cfg.Host = DefaultHost
	}
	if cfg.AdvertiseHost == "" {
		cfg.AdvertiseHost = cfg.Host
		if ip := net.ParseIP(cfg.Host); ip != nil && ip.IsUnspecified() {
			cfg.AdvertiseHost = DefaultHost
		}
	}
	if len(cfg.Devices) == 0 {
		cfg.Devices = []*pb.DeviceCaps{{DeviceType: pb.DeviceType_DEVICE_CUDA, DeviceName: "sim-gpu", GpuModel: "SimGPU 24G",
			VramTotal: 24 << 30, VramAvailable: 24 << 30, MemoryTotal: 24 << 30, MemoryAvailable: 24 << 30, ComputeUnits: 80}}
	}
	if cfg.Region == "" {
		cfg.Region = "local"
	}
	if cfg.PricePerHour == 0 {
		cfg.PricePerHour = 1
	}
	if cfg.CPUCores == 0 {
		cfg.CPUCores = 8
	}
	if cfg.RAMTotal == 0 {
		cfg.RAMTotal = 32 << 30
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = DefaultHeartbeatInterval
	}
	if cfg.MaxConcurrentJobs == 0 {
		cfg.MaxConcurrentJobs = DefaultMaxConcurrentJobs
	}
	if cfg.CallTimeout <= 0 {
		cfg.CallTimeout = DefaultCallTimeout
	}
	if cfg.ReportAttempts <= 0 {
		cfg.ReportAttempts = DefaultReportAttempts
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	rng := cfg.Rand
	if rng == nil {
		rng = rand.New(rand.NewPCG(rand.Uint64(), rand.Uint64()))
	}
	return &Node{cfg: cfg, log: cfg.Log, jobs: map[string]*job{}, refuses: map[string]bool{}, rng: rng, id: cfg.NodeID}, nil
}

// Start listens on the control port, serves AssignJob, registers with the
// central server and starts heartbeating. ctx bounds registration only.
func (n *Node) Start(ctx context.Context) (err error) {
	n.mu.Lock()
	if n.started {
		n.mu.Unlock()
		return errors.New("nodesim: Start called twice")
	}
	n.started = true
	n.mu.Unlock()
	defer func() {
		if err != nil {
			n.Close()
		}
	}()

	n.ctx, n.cancel = context.WithCancel(context.Background())
	if n.cfg.Conn != nil {
		n.conn = n.cfg.Conn
	} else {
		cc, err := grpcclient.Dial(n.cfg.ServerAddr, grpc.WithTransportCredentials(tlsconf.Credentials(n.cfg.TLS)))
		if err != nil {
			return fmt.Errorf("nodesim: dial %s: %w", n.cfg.ServerAddr, err)
		}
		n.conn, n.ownsCC = cc, true
	}
	n.nodes = pb.NewNodeServiceClient(n.conn)
	n.status = pb.NewJobStatusServiceClient(n.conn)

	addr := net.JoinHostPort(n.cfg.Host, strconv.Itoa(n.cfg.ControlPort))
	lis, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("nodesim: listen %s: %w", addr, err)
	}
	n.lis = lis
	control := lis.Addr().(*net.TCPAddr).Port
	n.port = int32(control - n.cfg.PortOffset)
	if n.port < 1 {
		return fmt.Errorf("nodesim: control port %d minus offset %d is not a valid advertised port", control, n.cfg.PortOffset)
	}
	if n.cfg.Name == "" {
		n.cfg.Name = "sim-" + strconv.Itoa(control)
	}
	var serverOpts []grpc.ServerOption
	if n.cfg.ControlTLS != nil {
		serverOpts = append(serverOpts, grpc.Creds(credentials.NewTLS(n.cfg.ControlTLS)))
	}
	n.srv = grpc.NewServer(serverOpts...)
	pb.RegisterNodeServiceServer(n.srv, n)
	n.bg.Add(1)
	go func() {
		defer n.bg.Done()
		if err := n.srv.Serve(lis); err != nil && !errors.Is(err, grpc.ErrServerStopped) {
			n.log.Error("control server stopped", "err", err)
		}
	}()

	if err := n.register(ctx); err != nil {
		return err
	}
	n.bg.Add(1)
	go n.heartbeatLoop()
	return nil
}

// info is the NodeInfo the node advertises.
func (n *Node) info() *pb.NodeInfo {
	n.mu.Lock()
	id, active := n.id, n.running
	n.mu.Unlock()
	used := int64(0)
	if n.cfg.MaxConcurrentJobs > 0 {
		used = n.cfg.RAMTotal / 2 * int64(active) / int64(n.cfg.MaxConcurrentJobs)
	}
	return &pb.NodeInfo{
		NodeId: id, Name: n.cfg.Name, Version: &pb.Version{Major: 0, Minor: 1, Build: "nodesim"},
		Devices: n.cfg.Devices, CpuCores: n.cfg.CPUCores, RamTotal: n.cfg.RAMTotal, RamAvailable: n.cfg.RAMTotal/2 - used,
		IpAddress: n.cfg.AdvertiseHost, Port: n.port, Region: n.cfg.Region, WalletAddress: n.cfg.WalletAddress,
		Pricing:           &pb.NodePricing{BillingModel: pb.NodePricing_BILLING_HOURLY, PricePerHour: n.cfg.PricePerHour, AcceptsCyxwizToken: true},
		SupportedFormats:  []string{"onnx", "safetensors"},
		AvailableRuntimes: []string{"cyxwiz-sim"},
	}
}

func (n *Node) register(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, n.cfg.CallTimeout)
	defer cancel()
	resp, err := n.nodes.RegisterNode(bearer(ctx, n.cfg.OwnerToken), &pb.RegisterNodeRequest{Info: n.info()})
	if err != nil {
		return fmt.Errorf("nodesim: RegisterNode: %w", err)
	}
	if resp.GetNodeId() == "" || resp.GetSessionToken() == "" {
		return fmt.Errorf("nodesim: RegisterNode answered without a node id or session token: %v", resp)
	}
	n.mu.Lock()
	n.id, n.session = resp.GetNodeId(), resp.GetSessionToken()
	n.mu.Unlock()
	n.log.Info("node registered", "node", resp.GetNodeId(), "advertised", net.JoinHostPort(n.cfg.AdvertiseHost, strconv.Itoa(int(n.port))))
	return nil
}

// ID is the node id the server issued (empty before Start).
func (n *Node) ID() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.id
}

// SessionToken is the session token RegisterNode returned.
func (n *Node) SessionToken() string {
	n.mu.Lock()
	defer n.mu.Unlock()
	return n.session
}

// ControlAddr is the address AssignJob is served on (empty before Start).
func (n *Node) ControlAddr() string {
	if n.lis == nil {
		return ""
	}
	return n.lis.Addr().String()
}

// AdvertisedPort is the P2P port sent in NodeInfo.port.
func (n *Node) AdvertisedPort() int { return int(n.port) }

// Stats returns a snapshot of the counters; safe from any goroutine.
func (n *Node) Stats() Stats {
	n.mu.Lock()
	active := n.running
	n.mu.Unlock()
	return Stats{
		Assigned: n.c.assigned.Load(), Accepted: n.c.accepted.Load(), Refused: n.c.refused.Load(), Rejected: n.c.rejected.Load(),
		Completed: n.c.completed.Load(), Failed: n.c.failed.Load(), Cancelled: n.c.cancelled.Load(),
		ReportErrors: n.c.reportErrors.Load(), Heartbeats: n.c.heartbeats.Load(), Active: active,
	}
}

// AssignJob implements the node side of cyxwiz.protocol.NodeService: the
// central server pushes a job here. It answers at once; training runs in
// the background.
func (n *Node) AssignJob(_ context.Context, req *pb.AssignJobRequest) (*pb.AssignJobResponse, error) {
	n.c.assigned.Add(1)
	jobID := req.GetJob().GetJobId()
	// refuse runs under n.mu; it touches only atomics and the logger.
	refuse := func(reason string) (*pb.AssignJobResponse, error) {
		n.c.refused.Add(1)
		n.log.Debug("assignment refused", "job", jobID, "reason", reason)
		return &pb.AssignJobResponse{Status: pb.StatusCode_STATUS_ERROR, JobId: jobID, Accepted: false,
			Error: &pb.Error{Code: int32(pb.StatusCode_STATUS_ERROR), Message: reason}}, nil
	}
	if jobID == "" {
		return nil, status.Error(codes.InvalidArgument, "job.job_id is required")
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	switch {
	case n.closing:
		return refuse("node is shutting down")
	case req.GetNodeId() != n.id:
		return refuse(fmt.Sprintf("this is node %s, not %s", n.id, req.GetNodeId()))
	}
	if _, dup := n.jobs[jobID]; dup {
		// A retried push of a job already running here: same answer.
		return &pb.AssignJobResponse{Status: pb.StatusCode_STATUS_SUCCESS, JobId: jobID, Accepted: true}, nil
	}
	if !n.refuses[jobID] && n.cfg.RejectProbability > 0 && n.rng.Float64() < n.cfg.RejectProbability {
		n.refuses[jobID] = true
	}
	if n.refuses[jobID] {
		n.c.rejected.Add(1)
		n.log.Debug("assignment rejected (simulated)", "job", jobID)
		return &pb.AssignJobResponse{Status: pb.StatusCode_STATUS_ERROR, JobId: jobID, Accepted: false,
			Error: &pb.Error{Code: int32(pb.StatusCode_STATUS_ERROR), Message: RejectReason}}, nil
	}
	if n.running >= n.cfg.MaxConcurrentJobs {
		return refuse(fmt.Sprintf("at capacity: %d of %d jobs running", n.running, n.cfg.MaxConcurrentJobs))
	}
	ctx, cancel := context.WithCancel(n.ctx)
	j := &job{req: req, id: jobID, received: time.Now(), cancel: cancel, probe: make(chan struct{}, 1), running: true,
		fail: n.cfg.FailureProbability > 0 && n.rng.Float64() < n.cfg.FailureProbability}
	n.jobs[jobID] = j
	n.running++
	n.c.accepted.Add(1)
	n.jobsWG.Add(1)
	go n.run(ctx, j)
	return &pb.AssignJobResponse{Status: pb.StatusCode_STATUS_SUCCESS, JobId: jobID, Accepted: true,
		EstimatedStartTime: strconv.FormatInt(time.Now().Unix(), 10)}, nil
}

// freeSlot stops counting j against MaxConcurrentJobs. It is called before
// the final report, so that the server, which frees the slot while handling
// that report, never pushes a job the node would refuse.
func (n *Node) freeSlot(j *job) {
	n.mu.Lock()
	if j.running {
		j.running = false
		n.running--
	}
	n.mu.Unlock()
}

func (n *Node) forget(j *job) {
	n.freeSlot(j)
	n.mu.Lock()
	delete(n.jobs, j.id)
	n.mu.Unlock()
	j.cancel()
}

// run trains one job: progress reports spread over TrainDuration, then the result.
func (n *Node) run(ctx context.Context, j *job) {
	defer n.jobsWG.Done()
	defer n.forget(j)
	started := time.Now()
	done := func(o Outcome, err error) {
		switch o {
		case OutcomeCompleted:
			n.c.completed.Add(1)
		case OutcomeFailed:
			n.c.failed.Add(1)
		case OutcomeCancelled:
			n.c.cancelled.Add(1)
		}
		if n.cfg.OnJobDone != nil {
			n.cfg.OnJobDone(Result{JobID: j.id, Outcome: o, Received: j.received, Done: time.Now(), Err: err})
		}
	}
	if n.cfg.NotifyAccepted {
		err := n.call(ctx, func(ctx context.Context) error {
			_, err := n.nodes.NotifyJobAccepted(ctx, &pb.JobAcceptedRequest{NodeId: n.ID(), JobId: j.id, AcceptedAt: time.Now().Unix(),
				NodeEndpoint: net.JoinHostPort(n.cfg.AdvertiseHost, strconv.Itoa(int(n.port)))})
			return err
		})
		if err != nil {
			done(stopOutcome(ctx, err))
			return
		}
	}
	steps := n.cfg.ProgressReports
	step := n.cfg.TrainDuration / time.Duration(steps+1)
	epochs := max(j.req.GetJob().GetEpochs(), 1)
	for i := 1; i <= steps; i++ {
		if err := n.train(ctx, j, step); err != nil {
			done(stopOutcome(ctx, err))
			return
		}
		frac := float64(i) / float64(steps+1)
		cont, err := n.progress(ctx, j, frac, min(epochs, int32(frac*float64(epochs))+1))
		if err == nil && !cont {
			err = errStop
		}
		if err != nil {
			done(stopOutcome(ctx, err))
			return
		}
	}
	if err := n.train(ctx, j, n.cfg.TrainDuration-time.Duration(steps)*step); err != nil {
		done(stopOutcome(ctx, err))
		return
	}
	n.freeSlot(j)
	req := &pb.ReportJobResultRequest{NodeId: n.ID(), JobId: j.id, TotalComputeTime: time.Since(started).Milliseconds()}
	if j.fail {
		req.FinalStatus, req.ErrorMessage = pb.StatusCode_STATUS_FAILED, FailureMessage
	} else {
		req.FinalStatus = pb.StatusCode_STATUS_SUCCESS
		req.FinalMetrics = map[string]float64{"loss": 0.05, "accuracy": 0.95}
		req.ModelWeightsUri = "sim://weights/" + j.id
		req.ModelWeightsHash = "sim-" + j.id
		req.ModelSize = 1 << 20
	}
	err := n.call(ctx, func(ctx context.Context) error {
		_, err := n.status.ReportJobResult(ctx, req)
		return err
	})
	switch {
	case err == nil && j.fail:
		done(OutcomeFailed, nil)
	case err == nil:
		done(OutcomeCompleted, nil)
	default:
		done(stopOutcome(ctx, err))
	}
}

var errStop = errors.New("the server asked the node to stop the job")

// stopOutcome classifies why a job ended early.
func stopOutcome(ctx context.Context, err error) (Outcome, error) {
	if ctx.Err() != nil || errors.Is(err, errStop) {
		return OutcomeCancelled, err
	}
	switch status.Code(err) {
	case codes.FailedPrecondition, codes.PermissionDenied, codes.NotFound:
		// The job ended or moved while we worked on it.
		return OutcomeCancelled, err
	}
	return OutcomeError, err
}

// train waits d, unless the job is cancelled. When the server listed the
// job in a heartbeat's jobs_to_cancel, it confirms with a progress report:
// a heartbeat may race the assignment, a report answers for the job itself.
func (n *Node) train(ctx context.Context, j *job, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-t.C:
			return nil
		case <-j.probe:
			cont, err := n.progress(ctx, j, 0, 0)
			if err != nil {
				return err
			}
			if !cont {
				return errStop
			}
		}
	}
}

// progress sends one progress report and returns whether to continue.
func (n *Node) progress(ctx context.Context, j *job, frac float64, epoch int32) (bool, error) {
	metrics := map[string]float64{"loss": 1 - frac*0.9}
	cont := true
	err := n.call(ctx, func(ctx context.Context) error {
		if n.cfg.ProgressRPC == ProgressReportProgress {
			resp, err := n.nodes.ReportProgress(ctx, &pb.ReportProgressRequest{NodeId: n.ID(), JobId: j.id, CurrentMetrics: metrics,
				Status: &pb.JobStatus{JobId: j.id, Status: pb.StatusCode_STATUS_IN_PROGRESS, Progress: frac, CurrentEpoch: epoch}})
			cont = resp.GetContinueJob()
			return err
		}
		resp, err := n.status.UpdateJobStatus(ctx, &pb.UpdateJobStatusRequest{NodeId: n.ID(), JobId: j.id,
			Status: pb.StatusCode_STATUS_IN_PROGRESS, Progress: frac, CurrentEpoch: epoch, Metrics: metrics})
		cont = resp.GetShouldContinue()
		return err
	})
	return cont, err
}

// call runs one call to the server with the session token, retrying
// transient failures with backoff.
func (n *Node) call(ctx context.Context, fn func(context.Context) error) error {
	backoff := 20 * time.Millisecond
	var err error
	for attempt := 1; attempt <= n.cfg.ReportAttempts; attempt++ {
		cctx, cancel := context.WithTimeout(bearer(ctx, n.SessionToken()), n.cfg.CallTimeout)
		err = fn(cctx)
		cancel()
		if err == nil {
			return nil
		}
		n.c.reportErrors.Add(1)
		switch status.Code(err) {
		case codes.Unavailable, codes.Aborted, codes.DeadlineExceeded, codes.ResourceExhausted:
		default:
			return err
		}
		if ctx.Err() != nil || attempt == n.cfg.ReportAttempts {
			break
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(backoff):
		}
		backoff = min(backoff*2, time.Second)
	}
	return err
}

func (n *Node) heartbeatLoop() {
	defer n.bg.Done()
	t := time.NewTicker(n.cfg.HeartbeatInterval)
	defer t.Stop()
	for {
		select {
		case <-n.ctx.Done():
			return
		case <-t.C:
			n.heartbeat()
		}
	}
}

// heartbeat sends one heartbeat listing the jobs in flight, re-registers
// when the session was refused, and asks jobs the server wants cancelled
// to confirm with a report.
func (n *Node) heartbeat() {
	n.mu.Lock()
	active := make([]string, 0, len(n.jobs))
	for id := range n.jobs {
		active = append(active, id)
	}
	id, session := n.id, n.session
	n.mu.Unlock()
	ctx, cancel := context.WithTimeout(bearer(n.ctx, session), n.cfg.CallTimeout)
	defer cancel()
	resp, err := n.nodes.Heartbeat(ctx, &pb.HeartbeatRequest{NodeId: id, CurrentStatus: n.info(), ActiveJobs: active})
	if err != nil {
		if n.ctx.Err() != nil {
			return
		}
		n.c.reportErrors.Add(1)
		n.log.Warn("heartbeat", "node", id, "err", err)
		if status.Code(err) == codes.Unauthenticated {
			if err := n.register(n.ctx); err != nil {
				n.log.Warn("re-register", "node", id, "err", err)
			}
		}
		return
	}
	n.c.heartbeats.Add(1)
	if len(resp.GetJobsToCancel()) == 0 {
		return
	}
	n.mu.Lock()
	for _, jobID := range resp.GetJobsToCancel() {
		if j, ok := n.jobs[jobID]; ok {
			select {
			case j.probe <- struct{}{}:
			default:
			}
		}
	}
	n.mu.Unlock()
}

// Close stops the node: it refuses new assignments, stops heartbeating,
// waits up to DrainTimeout for jobs in flight, cancels the rest (they
// report nothing more; the server requeues them when the node's lease
// lapses), and stops its control server. It is safe to call more than once.
func (n *Node) Close() error {
	ctx := context.Background()
	if n.cfg.DrainTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, n.cfg.DrainTimeout)
		defer cancel()
	} else {
		var cancel context.CancelFunc
		ctx, cancel = context.WithCancel(ctx)
		cancel()
	}
	return n.Shutdown(ctx)
}

// Shutdown is Close with the drain bounded by ctx instead of DrainTimeout:
// jobs still in flight when ctx ends are cancelled.
func (n *Node) Shutdown(ctx context.Context) error {
	n.mu.Lock()
	if n.closed {
		n.mu.Unlock()
		return nil
	}
	n.closed, n.closing = true, true
	n.mu.Unlock()

	if n.cancel != nil {
		drained := make(chan struct{})
		go func() { n.jobsWG.Wait(); close(drained) }()
		select {
		case <-drained:
		case <-ctx.Done():
		}
		n.cancel() // stops heartbeats and any job still in flight
		<-drained
	}
	if n.srv != nil {
		n.srv.Stop()
	} else if n.lis != nil {
		n.lis.Close()
	}
	n.bg.Wait()
	if n.ownsCC && n.conn != nil {
		return n.conn.Close()
	}
	return nil
}

// bearer returns ctx sending token as `authorization: Bearer <token>`.
func bearer(ctx context.Context, token string) context.Context {
	return metadata.AppendToOutgoingContext(ctx, "authorization", "Bearer "+token)
}
