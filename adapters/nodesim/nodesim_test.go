package nodesim

import (
	"context"
	"math/rand/v2"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// These tests run the node against a small fake central server that
// records what the node sends. The node against the real server is
// tested in cmd/cyxwiz-central (TestNodeSimFleet).

const (
	ownerToken   = "owner-token"
	sessionToken = "session-token"
	fakeNodeID   = "11111111-2222-3333-4444-555555555555"
)

type fakeCentral struct {
	pb.UnimplementedNodeServiceServer
	pb.UnimplementedJobStatusServiceServer
	t *testing.T

	mu         sync.Mutex
	registered []*pb.RegisterNodeRequest
	heartbeats []*pb.HeartbeatRequest
	progress   map[string][]float64
	results    map[string]pb.StatusCode
	accepted   []string
	list       map[string]bool // listed in jobs_to_cancel
	stop       map[string]bool // should_continue=false on a report
	badAuth    []string
}

func (f *fakeCentral) checkBearer(ctx context.Context, want string) error {
	md, _ := metadata.FromIncomingContext(ctx)
	got := md.Get("authorization")
	if len(got) != 1 || got[0] != "Bearer "+want {
		f.mu.Lock()
		f.badAuth = append(f.badAuth, strings.Join(got, ","))
		f.mu.Unlock()
		return status.Errorf(codes.Unauthenticated, "want bearer %s, got %v", want, got)
	}
	return nil
}

func (f *fakeCentral) RegisterNode(ctx context.Context, req *pb.RegisterNodeRequest) (*pb.RegisterNodeResponse, error) {
	if err := f.checkBearer(ctx, ownerToken); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.registered = append(f.registered, req)
	f.mu.Unlock()
	return &pb.RegisterNodeResponse{Status: pb.StatusCode_STATUS_SUCCESS, NodeId: fakeNodeID, SessionToken: sessionToken}, nil
}

func (f *fakeCentral) Heartbeat(ctx context.Context, req *pb.HeartbeatRequest) (*pb.HeartbeatResponse, error) {
	if err := f.checkBearer(ctx, sessionToken); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.heartbeats = append(f.heartbeats, req)
	resp := &pb.HeartbeatResponse{Status: pb.StatusCode_STATUS_SUCCESS, KeepAlive: true}
	for _, id := range req.GetActiveJobs() {
		if f.list[id] {
			resp.JobsToCancel = append(resp.JobsToCancel, id)
		}
	}
	return resp, nil
}

func (f *fakeCentral) report(ctx context.Context, jobID string, p float64) (bool, error) {
	if err := f.checkBearer(ctx, sessionToken); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.progress[jobID] = append(f.progress[jobID], p)
	return !f.stop[jobID], nil
}

func (f *fakeCentral) UpdateJobStatus(ctx context.Context, req *pb.UpdateJobStatusRequest) (*pb.UpdateJobStatusResponse, error) {
	cont, err := f.report(ctx, req.GetJobId(), req.GetProgress())
	if err != nil {
		return nil, err
	}
	return &pb.UpdateJobStatusResponse{Status: pb.StatusCode_STATUS_SUCCESS, ShouldContinue: cont}, nil
}

func (f *fakeCentral) ReportProgress(ctx context.Context, req *pb.ReportProgressRequest) (*pb.ReportProgressResponse, error) {
	cont, err := f.report(ctx, req.GetJobId(), req.GetStatus().GetProgress())
	if err != nil {
		return nil, err
	}
	return &pb.ReportProgressResponse{Status: pb.StatusCode_STATUS_SUCCESS, ContinueJob: cont}, nil
}

func (f *fakeCentral) NotifyJobAccepted(ctx context.Context, req *pb.JobAcceptedRequest) (*pb.JobAcceptedResponse, error) {
	if err := f.checkBearer(ctx, sessionToken); err != nil {
		return nil, err
	}
	f.mu.Lock()
	f.accepted = append(f.accepted, req.GetJobId())
	f.mu.Unlock()
	return &pb.JobAcceptedResponse{Status: pb.StatusCode_STATUS_SUCCESS, Acknowledged: true}, nil
}

func (f *fakeCentral) ReportJobResult(ctx context.Context, req *pb.ReportJobResultRequest) (*pb.ReportJobResultResponse, error) {
	if err := f.checkBearer(ctx, sessionToken); err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, dup := f.results[req.GetJobId()]; dup {
		f.t.Errorf("a second result for %s", req.GetJobId())
	}
	f.results[req.GetJobId()] = req.GetFinalStatus()
	return &pb.ReportJobResultResponse{Status: pb.StatusCode_STATUS_SUCCESS}, nil
}

func (f *fakeCentral) resultCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.results)
}

func startFake(t *testing.T) (*fakeCentral, string) {
	t.Helper()
	f := &fakeCentral{t: t, progress: map[string][]float64{}, results: map[string]pb.StatusCode{},
		list: map[string]bool{}, stop: map[string]bool{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	pb.RegisterNodeServiceServer(srv, f)
	pb.RegisterJobStatusServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return f, lis.Addr().String()
}

func startSim(t *testing.T, cfg Config) *Node {
	t.Helper()
	n, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { n.Close() })
	return n
}

// assigner pushes jobs to a node's control address, as the server does.
func assigner(t *testing.T, n *Node) pb.NodeServiceClient {
	t.Helper()
	cc, err := grpc.NewClient(n.ControlAddr(), grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cc.Close() })
	return pb.NewNodeServiceClient(cc)
}

func assign(t *testing.T, c pb.NodeServiceClient, nodeID, jobID string) *pb.AssignJobResponse {
	t.Helper()
	resp, err := c.AssignJob(context.Background(), &pb.AssignJobRequest{NodeId: nodeID, AuthorizationToken: "p2p",
		Job: &pb.JobConfig{JobId: jobID, JobType: pb.JobType_JOB_TYPE_TRAINING, Epochs: 4}})
	if err != nil {
		t.Fatalf("AssignJob %s: %v", jobID, err)
	}
	return resp
}

func waitFor(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func jobID(i int) string {
	return "00000000-0000-0000-0000-" + strconv.FormatInt(int64(100000000000+i), 10)
}

func TestRegisterAdvertisesPortAndUsesSession(t *testing.T) {
	f, addr := startFake(t)
	n := startSim(t, Config{ServerAddr: addr, OwnerToken: ownerToken, PortOffset: 5, Region: "eu-west", PricePerHour: 2.5,
		HeartbeatInterval: 10 * time.Millisecond, Devices: []*pb.DeviceCaps{{DeviceType: pb.DeviceType_DEVICE_METAL, VramTotal: 8 << 30}}})
	if n.ID() != fakeNodeID || n.SessionToken() != sessionToken {
		t.Fatalf("id %q session %q", n.ID(), n.SessionToken())
	}
	_, portStr, _ := net.SplitHostPort(n.ControlAddr())
	control, _ := strconv.Atoi(portStr)
	if n.AdvertisedPort() != control-5 {
		t.Fatalf("advertised %d, control %d, offset 5", n.AdvertisedPort(), control)
	}
	waitFor(t, 2*time.Second, "heartbeats", func() bool { return n.Stats().Heartbeats >= 2 })
	f.mu.Lock()
	info := f.registered[0].GetInfo()
	hb := f.heartbeats[0]
	bad := f.badAuth
	f.mu.Unlock()
	if info.GetPort() != int32(control-5) || info.GetIpAddress() != "127.0.0.1" || info.GetRegion() != "eu-west" ||
		info.GetPricing().GetPricePerHour() != 2.5 || info.GetDevices()[0].GetDeviceType() != pb.DeviceType_DEVICE_METAL {
		t.Fatalf("registered info %v", info)
	}
	if hb.GetNodeId() != fakeNodeID || hb.GetCurrentStatus().GetPort() != int32(control-5) {
		t.Fatalf("heartbeat %v", hb)
	}
	if len(bad) > 0 {
		t.Fatalf("calls with the wrong bearer: %v", bad)
	}
}

func TestJobLifecycleReportsProgressThenResult(t *testing.T) {
	for _, rpc := range []ProgressRPC{ProgressUpdateJobStatus, ProgressReportProgress} {
		t.Run(strconv.Itoa(int(rpc)), func(t *testing.T) {
			f, addr := startFake(t)
			var mu sync.Mutex
			var results []Result
			n := startSim(t, Config{ServerAddr: addr, OwnerToken: ownerToken, TrainDuration: 40 * time.Millisecond,
				ProgressReports: 3, ProgressRPC: rpc, NotifyAccepted: true,
				OnJobDone: func(r Result) { mu.Lock(); results = append(results, r); mu.Unlock() }})
			c := assigner(t, n)
			resp := assign(t, c, n.ID(), jobID(1))
			if !resp.GetAccepted() || resp.GetJobId() != jobID(1) || resp.GetStatus() != pb.StatusCode_STATUS_SUCCESS {
				t.Fatalf("AssignJob = %v", resp)
			}
			waitFor(t, 2*time.Second, "result", func() bool { return f.resultCount() == 1 })
			waitFor(t, time.Second, "OnJobDone", func() bool { mu.Lock(); defer mu.Unlock(); return len(results) == 1 })
			f.mu.Lock()
			progress, final, accepted := f.progress[jobID(1)], f.results[jobID(1)], f.accepted
			f.mu.Unlock()
			if want := []float64{0.25, 0.5, 0.75}; len(progress) != 3 || progress[0] != want[0] || progress[2] != want[2] {
				t.Fatalf("progress %v, want %v", progress, want)
			}
			if final != pb.StatusCode_STATUS_SUCCESS || len(accepted) != 1 {
				t.Fatalf("final %v, accepted %v", final, accepted)
			}
			st := n.Stats()
			if st.Assigned != 1 || st.Accepted != 1 || st.Completed != 1 || st.Failed != 0 || st.Active != 0 {
				t.Fatalf("stats %+v", st)
			}
			if r := results[0]; r.Outcome != OutcomeCompleted || r.JobID != jobID(1) || r.Done.Sub(r.Received) < 40*time.Millisecond {
				t.Fatalf("result %+v", r)
			}
		})
	}
}

func TestCapacityRefusalAndDuplicatePush(t *testing.T) {
	_, addr := startFake(t)
	n := startSim(t, Config{ServerAddr: addr, OwnerToken: ownerToken, MaxConcurrentJobs: 2, TrainDuration: time.Hour})
	c := assigner(t, n)
	for i := range 2 {
		if resp := assign(t, c, n.ID(), jobID(i)); !resp.GetAccepted() {
			t.Fatalf("job %d refused: %v", i, resp)
		}
	}
	if resp := assign(t, c, n.ID(), jobID(0)); !resp.GetAccepted() {
		t.Fatalf("a retried push of a running job is refused: %v", resp)
	}
	resp := assign(t, c, n.ID(), jobID(2))
	if resp.GetAccepted() || resp.GetStatus() != pb.StatusCode_STATUS_ERROR || !strings.Contains(resp.GetError().GetMessage(), "at capacity") {
		t.Fatalf("third job: %v, want a refusal saying at capacity", resp)
	}
	if resp := assign(t, c, "99999999-2222-3333-4444-555555555555", jobID(3)); resp.GetAccepted() {
		t.Fatalf("a job for another node was accepted")
	}
	st := n.Stats()
	if st.Assigned != 5 || st.Accepted != 2 || st.Refused != 2 || st.Active != 2 {
		t.Fatalf("stats %+v", st)
	}
	// Close cancels the hour-long jobs promptly.
	start := time.Now()
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if time.Since(start) > 2*time.Second {
		t.Fatalf("Close took %s", time.Since(start))
	}
	if st := n.Stats(); st.Cancelled != 2 || st.Active != 0 {
		t.Fatalf("after Close: %+v", st)
	}
	if _, err := assigner(t, n).AssignJob(context.Background(), &pb.AssignJobRequest{}); err == nil {
		t.Fatal("the control server still answers after Close")
	}
}

func TestFailureProbabilityUsesInjectedRand(t *testing.T) {
	run := func() (failed, completed uint64, statuses map[string]pb.StatusCode) {
		f, addr := startFake(t)
		n := startSim(t, Config{ServerAddr: addr, OwnerToken: ownerToken, MaxConcurrentJobs: 1000,
			FailureProbability: 0.3, Rand: rand.New(rand.NewPCG(7, 11))})
		c := assigner(t, n)
		const jobs = 300
		for i := range jobs { // one at a time: the draw order is the push order
			assign(t, c, n.ID(), jobID(i))
		}
		waitFor(t, 5*time.Second, "all results", func() bool { return f.resultCount() == jobs })
		waitFor(t, time.Second, "counters", func() bool { st := n.Stats(); return st.Failed+st.Completed == jobs })
		st := n.Stats()
		f.mu.Lock()
		defer f.mu.Unlock()
		return st.Failed, st.Completed, f.results
	}
	failed, completed, first := run()
	if failed < 60 || failed > 120 {
		t.Fatalf("%d of 300 failed with p=0.3", failed)
	}
	failed2, completed2, second := run()
	if failed != failed2 || completed != completed2 {
		t.Fatalf("same seed, different outcomes: %d/%d vs %d/%d", failed, completed, failed2, completed2)
	}
	for id, st := range first {
		if second[id] != st {
			t.Fatalf("job %s: %v then %v with the same seed", id, st, second[id])
		}
		if st != pb.StatusCode_STATUS_SUCCESS && st != pb.StatusCode_STATUS_FAILED {
			t.Fatalf("job %s reported %v", id, st)
		}
	}
}

func TestHeartbeatCancelIsConfirmedByReport(t *testing.T) {
	f, addr := startFake(t)
	n := startSim(t, Config{ServerAddr: addr, OwnerToken: ownerToken, TrainDuration: time.Hour, HeartbeatInterval: 10 * time.Millisecond})
	c := assigner(t, n)
	assign(t, c, n.ID(), jobID(1))
	assign(t, c, n.ID(), jobID(2))
	// The server lists job 1 in jobs_to_cancel but says continue on a
	// report: the node keeps it. Job 2 it lists and stops.
	f.mu.Lock()
	f.list[jobID(1)], f.list[jobID(2)], f.stop[jobID(2)] = true, true, true
	f.mu.Unlock()
	waitFor(t, 2*time.Second, "job 2 cancelled", func() bool { return n.Stats().Cancelled == 1 })
	waitFor(t, 2*time.Second, "job 1 probed twice", func() bool {
		f.mu.Lock()
		defer f.mu.Unlock()
		return len(f.progress[jobID(1)]) >= 2
	})
	if st := n.Stats(); st.Active != 1 || st.Cancelled != 1 {
		t.Fatalf("stats %+v", st)
	}
	if f.resultCount() != 0 {
		t.Fatal("a cancelled job reported a result")
	}
}

func TestDrainTimeoutLetsJobsFinish(t *testing.T) {
	f, addr := startFake(t)
	n, err := New(Config{ServerAddr: addr, OwnerToken: ownerToken, TrainDuration: 50 * time.Millisecond, DrainTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	c := assigner(t, n)
	assign(t, c, n.ID(), jobID(1))
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	if f.resultCount() != 1 || n.Stats().Completed != 1 {
		t.Fatalf("Close with a drain timeout did not wait for the job: %+v", n.Stats())
	}
	if err := n.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for _, cfg := range []Config{
		{OwnerToken: "x"},
		{ServerAddr: "127.0.0.1:1"},
		{ServerAddr: "127.0.0.1:1", OwnerToken: "x", FailureProbability: 1.5},
		{ServerAddr: "127.0.0.1:1", OwnerToken: "x", TrainDuration: -1},
		{ServerAddr: "127.0.0.1:1", OwnerToken: "x", ControlPort: 70000},
	} {
		if _, err := New(cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

func TestStartFailsCleanlyWhenRegistrationIsRefused(t *testing.T) {
	_, addr := startFake(t)
	n, err := New(Config{ServerAddr: addr, OwnerToken: "wrong"})
	if err != nil {
		t.Fatal(err)
	}
	if err := n.Start(context.Background()); status.Code(err) != codes.Unauthenticated {
		t.Fatalf("Start = %v, want Unauthenticated", err)
	}
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
}
