package main

import (
	"context"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/config"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
)

const testSecret = "e2e-test-secret-0123456789abcdef0123456789"

// testServer is a real server on loopback TCP with its own data dir.
type testServer struct {
	t    *testing.T
	app  *App
	dir  string
	conn *grpc.ClientConn
	iss  *auth.Issuer
}

func testConfig(dir string) config.Config {
	cfg := config.Default()
	cfg.Server.GRPCAddress = "127.0.0.1:0"
	cfg.Server.RESTAddress = "127.0.0.1:0"
	cfg.Server.ShutdownGraceSeconds = 2
	cfg.EventStore.DataDir = dir
	cfg.JWT.Secret = testSecret
	cfg.Scheduler.DispatchAttempts = 2
	cfg.Scheduler.DispatchBackoffMS = 20
	unlimited(&cfg.Limits)
	return cfg
}

// unlimited lifts the per-principal rates and quotas: tests and
// benchmarks submit far faster than one user may by default (the hostile
// suite sets its own).
func unlimited(l *config.Limits) {
	l.UserRequestsPerSecond, l.NodeRequestsPerSecond, l.IPRequestsPerSecond = 0, 0, 0
	l.QueuedJobsPerUser, l.NodesPerOwner, l.StreamsPerPrincipal = 0, 0, 0
}

func testLogger(t *testing.T) *slog.Logger {
	if os.Getenv("CYXWIZ_TEST_LOG") != "" {
		return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	return slog.New(slog.NewTextHandler(io.Discard, nil))
}

func startServer(t *testing.T, dir string, set Settings, tweak ...func(*config.Config)) *testServer {
	t.Helper()
	cfg := testConfig(dir)
	for _, f := range tweak {
		f(&cfg)
	}
	if set.SchedulerInterval == 0 {
		set.SchedulerInterval = 50 * time.Millisecond
	}
	if set.CheckInterval == 0 {
		set.CheckInterval = 50 * time.Millisecond
	}
	app, err := NewApp(cfg, set, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	conn, err := grpc.NewClient(app.GRPCAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	s := &testServer{t: t, app: app, dir: dir, conn: conn, iss: auth.NewIssuer([]byte(testSecret), nil)}
	t.Cleanup(s.stop)
	return s
}

func (s *testServer) stop() {
	if s.app == nil {
		return
	}
	s.conn.Close()
	if err := s.app.Stop(); err != nil {
		s.t.Errorf("stop: %v", err)
	}
	s.app = nil
}

func (s *testServer) userToken(sub string) string {
	tok, _, err := s.iss.MintUser(sub, "", "", time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// payerToken is sub's user token whose wallet_address claim is wallet: the
// proof a paid job's payment_address is the caller's.
func (s *testServer) payerToken(sub, wallet string) string {
	tok, _, err := s.iss.MintUser(sub, wallet, "", time.Hour)
	if err != nil {
		s.t.Fatal(err)
	}
	return tok
}

// as returns a context that sends token as the bearer.
func as(token string) context.Context {
	return metadata.AppendToOutgoingContext(context.Background(), "authorization", "Bearer "+token)
}

func (s *testServer) jobs() pb.JobServiceClient         { return pb.NewJobServiceClient(s.conn) }
func (s *testServer) nodes() pb.NodeServiceClient       { return pb.NewNodeServiceClient(s.conn) }
func (s *testServer) status() pb.JobStatusServiceClient { return pb.NewJobStatusServiceClient(s.conn) }
func (s *testServer) discovery() pb.NodeDiscoveryServiceClient {
	return pb.NewNodeDiscoveryServiceClient(s.conn)
}

// testNode is a compute node: it serves NodeService.AssignJob on its
// control port (advertised port + 3) and talks to the server as a node.
type testNode struct {
	t        *testing.T
	srv      *testServer
	id       string
	session  string
	owner    string
	port     int32 // advertised (P2P) port
	grpc     *grpc.Server
	mu       sync.Mutex
	accept   bool
	reason   string
	assigned chan *pb.AssignJobRequest
	pb.UnimplementedNodeServiceServer
}

func (n *testNode) AssignJob(_ context.Context, req *pb.AssignJobRequest) (*pb.AssignJobResponse, error) {
	n.mu.Lock()
	accept, reason := n.accept, n.reason
	n.mu.Unlock()
	select {
	case n.assigned <- req:
	default:
	}
	resp := &pb.AssignJobResponse{Status: pb.StatusCode_STATUS_SUCCESS, JobId: req.GetJob().GetJobId(), Accepted: accept}
	if !accept {
		resp.Status = pb.StatusCode_STATUS_ERROR
		resp.Error = &pb.Error{Message: reason}
	}
	return resp, nil
}

func (n *testNode) setAccept(accept bool, reason string) {
	n.mu.Lock()
	n.accept, n.reason = accept, reason
	n.mu.Unlock()
}

// startNode starts a node's control server and registers it for owner.
func startNode(t *testing.T, s *testServer, owner, name string, device pb.DeviceType, vram int64) *testNode {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, portStr, _ := net.SplitHostPort(lis.Addr().String())
	control, _ := strconv.Atoi(portStr)
	n := &testNode{t: t, srv: s, owner: owner, port: int32(control - 3), accept: true, assigned: make(chan *pb.AssignJobRequest, 64)}
	n.grpc = grpc.NewServer()
	pb.RegisterNodeServiceServer(n.grpc, n)
	go n.grpc.Serve(lis)
	t.Cleanup(n.grpc.Stop)
	resp, err := s.nodes().RegisterNode(as(s.userToken(owner)), &pb.RegisterNodeRequest{Info: nodeInfo(name, n.port, device, vram)})
	if err != nil {
		t.Fatalf("register %s: %v", name, err)
	}
	n.id, n.session = resp.GetNodeId(), resp.GetSessionToken()
	return n
}

func nodeInfo(name string, port int32, device pb.DeviceType, vram int64) *pb.NodeInfo {
	return &pb.NodeInfo{
		Name: name, IpAddress: "127.0.0.1", Port: port, Region: "eu-west", CpuCores: 8,
		RamTotal: 32 << 30, RamAvailable: 16 << 30,
		Devices: []*pb.DeviceCaps{{DeviceType: device, DeviceName: name + "-gpu", VramTotal: vram, VramAvailable: vram}},
		Pricing: &pb.NodePricing{PricePerHour: 1.5},
	}
}

func (n *testNode) heartbeat(active ...string) *pb.HeartbeatResponse {
	n.t.Helper()
	resp, err := n.srv.nodes().Heartbeat(as(n.session), &pb.HeartbeatRequest{NodeId: n.id, ActiveJobs: active})
	if err != nil {
		n.t.Fatalf("heartbeat %s: %v", n.id, err)
	}
	return resp
}

// keepAlive heartbeats every interval until the test ends or stop is closed.
func (n *testNode) keepAlive(interval time.Duration) (stop func()) {
	done := make(chan struct{})
	var once sync.Once
	go func() {
		t := time.NewTicker(interval)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-t.C:
				n.srv.nodes().Heartbeat(as(n.session), &pb.HeartbeatRequest{NodeId: n.id})
			}
		}
	}()
	stop = func() { once.Do(func() { close(done) }) }
	n.t.Cleanup(stop)
	return stop
}

func (n *testNode) waitAssignment(timeout time.Duration) *pb.AssignJobRequest {
	n.t.Helper()
	select {
	case req := <-n.assigned:
		return req
	case <-time.After(timeout):
		n.t.Fatalf("node %s got no assignment within %s", n.id, timeout)
		return nil
	}
}

// eventually polls cond until it holds or the timeout passes.
// jobOnNode starts node "alpha" (owned by ops, one CUDA GPU) and has alice
// submit a training job; it returns once the job is on the node.
func (s *testServer) jobOnNode(t *testing.T) (node *testNode, alice, jobID string) {
	t.Helper()
	node = startNode(t, s, "ops", "alpha", pb.DeviceType_DEVICE_CUDA, 24<<30)
	alice = s.userToken("alice")
	jobID = s.submit(alice, trainingJob())
	node.waitAssignment(5 * time.Second)
	eventually(t, 5*time.Second, "accepted", func() bool {
		return s.jobStatus(alice, jobID).GetStatus().GetCurrentNodeId() == node.id
	})
	return node, alice, jobID
}

func eventually(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out after %s waiting for %s", timeout, what)
}

func (s *testServer) jobStatus(token, jobID string) *pb.GetJobStatusResponse {
	s.t.Helper()
	resp, err := s.jobs().GetJobStatus(as(token), &pb.GetJobStatusRequest{JobId: jobID})
	if err != nil {
		s.t.Fatalf("GetJobStatus %s: %v", jobID, err)
	}
	return resp
}

func (s *testServer) submit(token string, cfg *pb.JobConfig) string {
	s.t.Helper()
	resp, err := s.jobs().SubmitJob(as(token), &pb.SubmitJobRequest{Config: cfg})
	if err != nil {
		s.t.Fatalf("SubmitJob: %v", err)
	}
	return resp.GetJobId()
}

func trainingJob() *pb.JobConfig {
	return &pb.JobConfig{JobType: pb.JobType_JOB_TYPE_TRAINING, Priority: pb.JobPriority_PRIORITY_NORMAL,
		RequiredDevice: pb.DeviceType_DEVICE_CUDA, EstimatedMemory: 4 << 30, Epochs: 3, BatchSize: 32,
		ModelDefinition: "resnet18", DatasetUri: "s3://data/cifar10"}
}
