package grpc

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/commands"
	evmemory "github.com/cyxwiz/central-server/eventstore/memory"
	"github.com/cyxwiz/central-server/projections"
	"github.com/cyxwiz/central-server/projections/memory"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"
)

// fuzzServer is a Server over a real in-memory log and read model, with
// one registered node, called directly (no network) so a fuzzer can run
// thousands of requests a second.
type fuzzServer struct {
	srv    *Server
	user   context.Context
	node   context.Context
	nodeID string
}

func newFuzzServer(tb testing.TB) *fuzzServer {
	tb.Helper()
	store := evmemory.New()
	codec := commands.NewCodec()
	model := memory.New(memory.Config{})
	log := slog.New(slog.DiscardHandler)
	runner := projections.NewRunner(store, codec, model, log)
	ctx, cancel := context.WithCancel(context.Background())
	go runner.Run(ctx)
	tb.Cleanup(cancel)
	<-runner.CaughtUp()
	h := commands.NewHandler(store, codec, time.Now, commands.DefaultPolicy(), log)
	iss := auth.NewIssuer([]byte("fuzz-secret-0123456789abcdef0123456789"), nil)
	mon := commands.NewMonitor(h, commands.NewMemoryLeases(), model, commands.MonitorConfig{HeartbeatTimeout: time.Minute}, time.Now, log, nil)
	srv := New(Deps{Commands: h, Monitor: mon, Jobs: model, Nodes: model, Watcher: model, Projection: runner,
		Auth: iss, Tokens: iss, Now: time.Now}, Options{NodeSessionTTL: time.Hour}, log)
	user := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.KindUser, Subject: "alice"})
	resp, err := (&nodeService{Server: srv}).RegisterNode(user, &pb.RegisterNodeRequest{Info: &pb.NodeInfo{
		Name: "n", IpAddress: "127.0.0.1", Port: 9000, CpuCores: 4, RamTotal: 1 << 30}})
	if err != nil {
		tb.Fatal(err)
	}
	node := auth.WithPrincipal(context.Background(), auth.Principal{Kind: auth.KindNode, Subject: "alice", NodeID: resp.GetNodeId()})
	return &fuzzServer{srv: srv, user: user, node: node, nodeID: resp.GetNodeId()}
}

// checkAnswer fails on an error that is not a deliberate refusal: a
// validation gap shows up as INTERNAL (e.g. a NaN that reached the log).
func checkAnswer(t *testing.T, method string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	st, ok := status.FromError(err)
	if !ok {
		t.Fatalf("%s returned a non-status error: %v", method, err)
	}
	if st.Code() == codes.Internal || st.Code() == codes.Unknown {
		t.Fatalf("%s: %v", method, err)
	}
}

// FuzzRequests decodes arbitrary bytes as each request type and calls the
// service with it: every answer is a result or a deliberate refusal, never
// a panic or an internal error.
func FuzzRequests(f *testing.F) {
	seeds := []proto.Message{
		&pb.SubmitJobRequest{Config: &pb.JobConfig{JobType: 1, Priority: 2, RequiredDevice: 2, EstimatedMemory: 1 << 30, PaymentAmount: 1.5,
			Hyperparameters: map[string]string{"lr": "0.1"}}},
		&pb.RegisterNodeRequest{Info: &pb.NodeInfo{Name: "x", IpAddress: "10.0.0.1", Port: 1, Devices: []*pb.DeviceCaps{{DeviceType: 2, VramTotal: 1}},
			Pricing: &pb.NodePricing{PricePerHour: 1, Discount_1HPlus: 0.1}}},
		&pb.UpdateJobStatusRequest{Status: pb.StatusCode_STATUS_IN_PROGRESS, Progress: 0.5, Metrics: map[string]float64{"loss": 1}},
		&pb.ReportCompletionRequest{Result: &pb.JobResult{Status: pb.StatusCode_STATUS_SUCCESS, FinalMetrics: map[string]float64{"a": 1}}},
		&pb.FindNodesRequest{RequiredDevice: 2, MinMemory: 1, SortBy: 2, AllowedRegions: []string{"eu"}},
		&pb.ListJobsRequest{PageSize: 10, FilterStatus: 4},
		&pb.ListNodesRequest{PageSize: 3, SortBy: 1, SortDescending: true},
	}
	for i, m := range seeds {
		b, _ := proto.Marshal(m)
		f.Add(uint8(i), b)
	}
	fs := newFuzzServer(f)
	jobs, nodes := &jobService{Server: fs.srv}, &nodeService{Server: fs.srv}
	status, disc := &jobStatusService{Server: fs.srv}, &discoveryService{Server: fs.srv}
	f.Fuzz(func(t *testing.T, which uint8, data []byte) {
		switch which % 7 {
		case 0:
			var req pb.SubmitJobRequest
			if proto.Unmarshal(data, &req) == nil {
				_, err := jobs.SubmitJob(fs.user, &req)
				checkAnswer(t, "SubmitJob", err)
			}
		case 1:
			var req pb.RegisterNodeRequest
			if proto.Unmarshal(data, &req) == nil {
				req.GetInfo().ProtoReflect() // nil-safe
				_, err := nodes.RegisterNode(fs.user, &req)
				checkAnswer(t, "RegisterNode", err)
			}
		case 2:
			var req pb.UpdateJobStatusRequest
			if proto.Unmarshal(data, &req) == nil {
				req.NodeId = fs.nodeID
				_, err := status.UpdateJobStatus(fs.node, &req)
				checkAnswer(t, "UpdateJobStatus", err)
			}
		case 3:
			var req pb.ReportCompletionRequest
			if proto.Unmarshal(data, &req) == nil {
				req.NodeId = fs.nodeID
				_, err := nodes.ReportCompletion(fs.node, &req)
				checkAnswer(t, "ReportCompletion", err)
			}
		case 4:
			var req pb.FindNodesRequest
			if proto.Unmarshal(data, &req) == nil {
				_, err := disc.FindNodes(fs.user, &req)
				checkAnswer(t, "FindNodes", err)
			}
		case 5:
			var req pb.ListJobsRequest
			if proto.Unmarshal(data, &req) == nil {
				_, err := jobs.ListJobs(fs.user, &req)
				checkAnswer(t, "ListJobs", err)
			}
		case 6:
			var req pb.ListNodesRequest
			if proto.Unmarshal(data, &req) == nil {
				_, err := disc.ListNodes(fs.user, &req)
				checkAnswer(t, "ListNodes", err)
			}
		}
	})
}
