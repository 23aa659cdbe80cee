package main

import (
	"bytes"
	"context"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/auth"
	"github.com/cyxwiz/central-server/adapters/certs"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	grpccreds "google.golang.org/grpc/credentials"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

// The command against the real server is exercised by
// cmd/cyxwiz-central's TestFleetSimulator (through adapters/nodesim's
// Fleet, which run wraps). These tests check the flags, the clean stop on
// a signal, and submit, against a small fake central server.

const testSecret = "node-sim-test-secret-0123456789abcdef"

// TestMain lets a test re-run this binary as the real command.
func TestMain(m *testing.M) {
	if os.Getenv("CYXWIZ_TEST_RUN_MAIN") == "1" {
		main()
		os.Exit(0)
	}
	os.Exit(m.Run())
}

func TestFlagsAreChecked(t *testing.T) {
	t.Setenv("CYXWIZ_NODE_OWNER_TOKEN", "")
	t.Setenv("CYXWIZ_JWT_SECRET", "")
	t.Setenv("CYXWIZ_TOKEN", "")
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"--token", ""}, "--token (or --secret) is required"},
		{[]string{"--secret", "s", "--sub", ""}, "--sub is required"},
		{[]string{"--token", "t", "--device", "tpu"}, `device "tpu"`},
		{[]string{"--token", "t", "--device", "cuda:0"}, "GIB"},
		{[]string{"--token", "t", "--nodes", "0"}, "--nodes"},
		{[]string{"--token", "t", "--failure", "1.5"}, "--failure"},
		{[]string{"--token", "t", "--reject", "1"}, "--reject"},
		{[]string{"--token", "t", "--price", "1,x"}, `--price "x"`},
		{[]string{"--token", "t", "--price", "-2"}, `--price "-2"`},
		{[]string{"--token", "t", "--slots", "0"}, "--slots"},
		{[]string{"--token", "t", "--base-port", "70000"}, "--base-port"},
		{[]string{"--token", "t", "extra"}, "unexpected arguments"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"submit", "--token", "t", "--jobs", "0"}, "--jobs"},
		{[]string{"submit", "--token", "t", "--device", "tpu"}, `--device "tpu"`},
		{[]string{"submit"}, "--token (or --secret) is required"},
	} {
		var out, errOut bytes.Buffer
		err := dispatch(context.Background(), tt.args, &out, &errOut)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("dispatch(%q) = %v, want an error containing %q", tt.args, err, tt.want)
		}
	}
}

// fakeCentral answers registrations, heartbeats, reports, and job
// submission and streaming, and records what it saw.
type fakeCentral struct {
	pb.UnimplementedNodeServiceServer
	pb.UnimplementedJobStatusServiceServer
	pb.UnimplementedJobServiceServer
	iss *auth.Issuer

	mu       sync.Mutex
	regs     []*pb.RegisterNodeRequest
	owners   []string
	results  map[string]pb.StatusCode
	progress map[string]int
}

func (f *fakeCentral) user(ctx context.Context) (string, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	h := md.Get("authorization")
	if len(h) != 1 || !strings.HasPrefix(h[0], "Bearer ") {
		return "", status.Error(codes.Unauthenticated, "no bearer")
	}
	c, err := f.iss.Verify(strings.TrimPrefix(h[0], "Bearer "))
	if err != nil {
		return "", status.Error(codes.Unauthenticated, err.Error())
	}
	return c.Subject, nil
}

func (f *fakeCentral) RegisterNode(ctx context.Context, req *pb.RegisterNodeRequest) (*pb.RegisterNodeResponse, error) {
	owner, err := f.user(ctx)
	if err != nil {
		return nil, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.regs = append(f.regs, req)
	f.owners = append(f.owners, owner)
	return &pb.RegisterNodeResponse{Status: pb.StatusCode_STATUS_SUCCESS,
		NodeId: "00000000-0000-0000-0000-00000000000" + strconv.Itoa(len(f.regs)), SessionToken: "session"}, nil
}

func (f *fakeCentral) Heartbeat(context.Context, *pb.HeartbeatRequest) (*pb.HeartbeatResponse, error) {
	return &pb.HeartbeatResponse{Status: pb.StatusCode_STATUS_SUCCESS, KeepAlive: true}, nil
}

func (f *fakeCentral) UpdateJobStatus(_ context.Context, req *pb.UpdateJobStatusRequest) (*pb.UpdateJobStatusResponse, error) {
	f.mu.Lock()
	f.progress[req.GetJobId()]++
	f.mu.Unlock()
	return &pb.UpdateJobStatusResponse{Status: pb.StatusCode_STATUS_SUCCESS, ShouldContinue: true}, nil
}

func (f *fakeCentral) ReportJobResult(_ context.Context, req *pb.ReportJobResultRequest) (*pb.ReportJobResultResponse, error) {
	f.mu.Lock()
	f.results[req.GetJobId()] = req.GetFinalStatus()
	f.mu.Unlock()
	return &pb.ReportJobResultResponse{Status: pb.StatusCode_STATUS_SUCCESS}, nil
}

func (f *fakeCentral) SubmitJob(ctx context.Context, req *pb.SubmitJobRequest) (*pb.SubmitJobResponse, error) {
	if _, err := f.user(ctx); err != nil {
		return nil, err
	}
	if req.GetConfig().GetPaymentAmount() != 0 || req.GetConfig().GetRequiredDevice() != pb.DeviceType_DEVICE_CPU {
		return nil, status.Errorf(codes.InvalidArgument, "want an unpaid CPU job, got %v", req.GetConfig())
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	id := "job-" + strconv.Itoa(len(f.results))
	f.results[id] = pb.StatusCode_STATUS_PENDING
	return &pb.SubmitJobResponse{JobId: id, Status: pb.StatusCode_STATUS_PENDING}, nil
}

// StreamJobUpdates plays pending → 50% → completed, closing the stream
// once in the middle so the client has to reopen it.
func (f *fakeCentral) StreamJobUpdates(req *pb.GetJobStatusRequest, stream grpc.ServerStreamingServer[pb.JobUpdateStream]) error {
	f.mu.Lock()
	f.progress[req.GetJobId()]++
	opened := f.progress[req.GetJobId()]
	f.mu.Unlock()
	send := func(st pb.StatusCode, p float64) error {
		return stream.Send(&pb.JobUpdateStream{JobId: req.GetJobId(), Status: &pb.JobStatus{JobId: req.GetJobId(), Status: st, Progress: p, CurrentNodeId: "n1"}})
	}
	if opened <= 1 {
		if err := send(pb.StatusCode_STATUS_PENDING, 0); err != nil {
			return err
		}
		return send(pb.StatusCode_STATUS_IN_PROGRESS, 0.5)
	}
	if err := send(pb.StatusCode_STATUS_IN_PROGRESS, 0.5); err != nil {
		return err
	}
	return send(pb.StatusCode_STATUS_COMPLETED, 1)
}

func startFake(t *testing.T, opts ...grpc.ServerOption) (*fakeCentral, string) {
	t.Helper()
	f := &fakeCentral{iss: auth.NewIssuer([]byte(testSecret), nil), results: map[string]pb.StatusCode{}, progress: map[string]int{}}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(opts...)
	pb.RegisterNodeServiceServer(srv, f)
	pb.RegisterJobStatusServiceServer(srv, f)
	pb.RegisterJobServiceServer(srv, f)
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return f, lis.Addr().String()
}

// syncBuffer is a bytes.Buffer safe for the command's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestRunServesThenStopsOnCancel: run registers three nodes with the
// cycled specs and a token minted from --secret, runs a job pushed to one,
// and on cancellation (what SIGINT/SIGTERM do) drains it, closes the
// control endpoints and returns nil.
func TestRunServesThenStopsOnCancel(t *testing.T) {
	f, addr := startFake(t)
	ctx, cancel := context.WithCancel(context.Background())
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, []string{"run", "--server", addr, "--secret", testSecret, "--sub", "fleet-ops", "--nodes", "3",
			"--device", "cuda:80,cpu", "--region", "eu-west,us-east", "--price", "2.5", "--train", "200ms", "--progress", "1",
			"--seed", "7", "--heartbeat", "50ms", "--drain", "5s"}, &out, &errOut)
	}()
	waitFor(t, "three nodes running", func() bool { return strings.Contains(out.String(), "3 nodes running (seed 7)") })
	f.mu.Lock()
	regs, owners := f.regs, f.owners
	f.mu.Unlock()
	if len(regs) != 3 || owners[0] != "fleet-ops" {
		t.Fatalf("registrations %d, owners %v", len(regs), owners)
	}
	for i, want := range []struct {
		dev    pb.DeviceType
		gib    int64
		region string
	}{{pb.DeviceType_DEVICE_CUDA, 80, "eu-west"}, {pb.DeviceType_DEVICE_CPU, 24, "us-east"}, {pb.DeviceType_DEVICE_CUDA, 80, "eu-west"}} {
		info := regs[i].GetInfo()
		if d := info.GetDevices()[0]; d.GetDeviceType() != want.dev || d.GetVramTotal() != want.gib<<30 ||
			info.GetRegion() != want.region || info.GetPricing().GetPricePerHour() != 2.5 || info.GetName() != "sim-"+strconv.Itoa(i+1) {
			t.Errorf("node %d registered %v", i, info)
		}
	}
	// Push a job to node 1, as the server would, then stop while it trains.
	control := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(regs[0].GetInfo().GetPort())+3))
	cc, err := grpc.NewClient(control, grpc.WithTransportCredentials(insecure.NewCredentials()))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	resp, err := pb.NewNodeServiceClient(cc).AssignJob(context.Background(), &pb.AssignJobRequest{
		NodeId: "00000000-0000-0000-0000-000000000001", Job: &pb.JobConfig{JobId: "j1", Epochs: 1}})
	if err != nil || !resp.GetAccepted() {
		t.Fatalf("AssignJob = %v, %v", resp, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run returned %v after the stop; stderr:\n%s", err, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("run did not return after the stop")
	}
	f.mu.Lock()
	result := f.results["j1"]
	f.mu.Unlock()
	if result != pb.StatusCode_STATUS_SUCCESS {
		t.Fatalf("the job in flight ended %v; --drain should let it finish", result)
	}
	if !strings.Contains(out.String(), "stopped: 1 accepted, 1 completed, 0 failed, 0 rejected, 0 abandoned") {
		t.Fatalf("output:\n%s", out.String())
	}
	if c, err := net.DialTimeout("tcp", control, time.Second); err == nil {
		c.Close()
		t.Fatal("the control endpoint still accepts connections after the stop")
	}
}

// TestSIGTERMExitsZero runs the binary and stops it with SIGTERM.
func TestSIGTERMExitsZero(t *testing.T) {
	_, addr := startFake(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "--server", addr, "--secret", testSecret, "--nodes", "2", "--heartbeat", "50ms")
	cmd.Env = append(os.Environ(), "CYXWIZ_TEST_RUN_MAIN=1")
	var out, errOut syncBuffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()
	waitFor(t, "nodes running", func() bool { return strings.Contains(out.String(), "2 nodes running") })
	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("exit: %v; stderr:\n%s", err, errOut.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10s of SIGTERM")
	}
	if !strings.Contains(out.String(), "stopping") || !strings.Contains(out.String(), "stopped:") {
		t.Fatalf("output:\n%s", out.String())
	}
}

// TestSubmitFollowsJobsToTheEnd: submit sends unpaid jobs, reopens a
// stream the server closed, prints progress, and returns once all are
// terminal.
func TestSubmitFollowsJobsToTheEnd(t *testing.T) {
	_, addr := startFake(t)
	var out syncBuffer
	err := dispatch(context.Background(), []string{"submit", "--server", addr, "--secret", testSecret, "--jobs", "2",
		"--device", "cpu", "--timeout", "10s"}, &out, &out)
	if err != nil {
		t.Fatalf("submit: %v\n%s", err, out.String())
	}
	o := out.String()
	if n := strings.Count(o, "job job-0 in_progress"); n != 1 {
		t.Errorf("job-0's 50%% was printed %d times; a reopened stream must not repeat it:\n%s", n, o)
	}
	for _, want := range []string{"submitted job job-0", "submitted job job-1", "job job-0 pending       0% on node n1",
		"job job-0 in_progress  50% on node n1", "job job-1 completed   100%", "done: map[completed:2]"} {
		if !strings.Contains(o, want) {
			t.Errorf("output lacks %q:\n%s", want, o)
		}
	}
}

// TestSubmitTimesOut: a job that never ends makes submit fail, naming it.
func TestSubmitTimesOut(t *testing.T) {
	f, addr := startFake(t)
	f.mu.Lock()
	f.progress["job-0"] = -1000 // the stream keeps replaying the first half
	f.mu.Unlock()
	var out syncBuffer
	err := dispatch(context.Background(), []string{"submit", "--server", addr, "--secret", testSecret, "--jobs", "1",
		"--device", "cpu", "--timeout", "500ms"}, &out, &out)
	if err == nil || !strings.Contains(err.Error(), "job job-0") {
		t.Fatalf("submit = %v, want a timeout naming job-0\n%s", err, out.String())
	}
}

// TestTLSFlags: with --ca/--cert/--key the nodes verify the server, present
// their certificate (the fake requires one from the CA), and serve AssignJob
// over TLS, requiring the caller's certificate; submit speaks TLS with --ca.
func TestTLSFlags(t *testing.T) {
	dir := t.TempDir()
	if _, err := certs.Init(dir, certs.InitOptions{Nodes: []string{"fleet-ops"}}); err != nil {
		t.Fatal(err)
	}
	at := func(n string) string { return filepath.Join(dir, n) }
	nodeCert, nodeKey := certs.NodeFiles("fleet-ops")
	server, err := tlsconf.ClientFiles{CA: at(certs.CAFile), Cert: at(certs.ServerFile), Key: at(certs.ServerKey)}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	f, addr := startFake(t, grpc.Creds(grpccreds.NewTLS(server)))
	tlsArgs := []string{"--ca", at(certs.CAFile), "--cert", at(nodeCert), "--key", at(nodeKey)}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var out, errOut syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- dispatch(ctx, append([]string{"run", "--server", addr, "--secret", testSecret, "--sub", "fleet-ops", "--heartbeat", "50ms"}, tlsArgs...), &out, &errOut)
	}()
	waitFor(t, "a node running over TLS", func() bool { return strings.Contains(out.String(), "1 nodes running") })
	f.mu.Lock()
	control := net.JoinHostPort("127.0.0.1", strconv.Itoa(int(f.regs[0].GetInfo().GetPort())+3))
	f.mu.Unlock()
	assign := func(files tlsconf.ClientFiles) error {
		transport, err := files.DialOption()
		if err != nil {
			t.Fatal(err)
		}
		cc, err := grpc.NewClient(control, transport)
		if err != nil {
			t.Fatal(err)
		}
		defer cc.Close()
		actx, acancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer acancel()
		_, err = pb.NewNodeServiceClient(cc).AssignJob(actx, &pb.AssignJobRequest{NodeId: "n", Job: &pb.JobConfig{JobId: "j1", Epochs: 1}})
		return err
	}
	if err := assign(tlsconf.ClientFiles{}); err == nil {
		t.Error("AssignJob in plaintext reached a TLS control port")
	}
	if err := assign(tlsconf.ClientFiles{CA: at(certs.CAFile)}); err == nil {
		t.Error("AssignJob without the server's client certificate was served")
	}
	if err := assign(tlsconf.ClientFiles{CA: at(certs.CAFile), Cert: at(certs.ServerFile), Key: at(certs.ServerKey)}); err != nil {
		t.Errorf("AssignJob with the server's certificate: %v", err)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("run: %v\n%s", err, errOut.String())
	}

	var sub syncBuffer
	err = dispatch(context.Background(), append([]string{"submit", "--server", addr, "--secret", testSecret, "--jobs", "1",
		"--device", "cpu", "--timeout", "10s"}, tlsArgs...), &sub, &sub)
	if err != nil || !strings.Contains(sub.String(), "done: map[completed:1]") {
		t.Fatalf("submit over TLS: %v\n%s", err, sub.String())
	}
}
