package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/certs"
	"github.com/cyxwiz/central-server/adapters/tlsconf"
	pb "github.com/cyxwiz/central-server/proto/cyxwizpb"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials"
	"google.golang.org/grpc/metadata"
	"google.golang.org/grpc/status"
)

const secret = "load-tool-test-secret-0123456789abcdef"

func TestParseRefusesWhatIsNotBounded(t *testing.T) {
	for _, tt := range []struct {
		args []string
		want string
	}{
		{[]string{"-secret", secret, "-addr", "10.0.0.1:50051"}, "loopback"},
		{[]string{"-secret", secret, "-addr", "example.com:50051"}, "loopback"},
		{[]string{"-addr", "127.0.0.1:1"}, "-token"},
		{[]string{"-secret", secret, "-mode", "chaos"}, "-mode"},
		{[]string{"-secret", secret, "-n", "0"}, "-n"},
		{[]string{"-secret", secret, "-duration", "2h"}, "-duration"},
		{[]string{"-secret", secret, "-fail", "2"}, "-fail"},
		{[]string{"-secret", secret, "-observe", "psychic"}, "-observe"},
	} {
		t.Setenv("CYXWIZ_JWT_SECRET", "")
		if _, err := parse(tt.args, io.Discard); err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("parse(%v) = %v, want an error about %s", tt.args, err, tt.want)
		}
	}
	o, err := parse([]string{"-secret", secret, "-addr", "[::1]:50051", "-nodes", "4", "-slots", "3"}, io.Discard)
	if err != nil || o.window != 12 || o.mode != "submit" {
		t.Fatalf("parse = %+v, %v", o, err)
	}
	if _, err := parse([]string{"-secret", secret, "-addr", "localhost:50051"}, io.Discard); err != nil {
		t.Fatal(err)
	}
}

func TestLatencySummary(t *testing.T) {
	var l latencies
	for i := 100; i >= 1; i-- {
		l.add(time.Duration(i) * time.Millisecond)
	}
	s := l.summary()
	if s.p50 != 50*time.Millisecond || s.p90 != 90*time.Millisecond || s.p99 != 99*time.Millisecond || s.max != 100*time.Millisecond {
		t.Fatalf("summary %+v", s)
	}
}

// fakeJobs answers SubmitJob for a bearer, and refuses every tenth call.
type fakeJobs struct {
	pb.UnimplementedJobServiceServer
	calls atomic.Int64
}

func (f *fakeJobs) SubmitJob(ctx context.Context, req *pb.SubmitJobRequest) (*pb.SubmitJobResponse, error) {
	md, _ := metadata.FromIncomingContext(ctx)
	if a := md.Get("authorization"); len(a) != 1 || !strings.HasPrefix(a[0], "Bearer ") {
		return nil, status.Error(codes.Unauthenticated, "no bearer")
	}
	if f.calls.Add(1)%10 == 0 {
		return nil, status.Error(codes.ResourceExhausted, "slow down")
	}
	return &pb.SubmitJobResponse{JobId: "x", Status: pb.StatusCode_STATUS_PENDING}, nil
}

func (f *fakeJobs) ListJobs(context.Context, *pb.ListJobsRequest) (*pb.ListJobsResponse, error) {
	return &pb.ListJobsResponse{}, nil
}

func TestSubmitModeCountsAndReports(t *testing.T) {
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer()
	f := &fakeJobs{}
	pb.RegisterJobServiceServer(srv, f)
	go srv.Serve(lis)
	defer srv.Stop()

	var out, errOut bytes.Buffer
	code := run(context.Background(), []string{"-addr", lis.Addr().String(), "-secret", secret, "-c", "8", "-n", "200"}, &out, &errOut)
	if code != 1 { // the refused calls make it exit 1
		t.Fatalf("exit %d; stderr %s", code, errOut.String())
	}
	if got := f.calls.Load(); got != 200 {
		t.Fatalf("%d SubmitJob calls, want 200", got)
	}
	first := strings.SplitN(out.String(), "\n", 2)[0]
	if !strings.HasPrefix(first, "submit: 180 jobs in ") || !strings.Contains(first, "20 errors") {
		t.Fatalf("summary line %q", first)
	}
	for _, want := range []string{"SubmitJob latency p99", "ResourceExhausted×20", "count reached"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("table lacks %q:\n%s", want, out.String())
		}
	}
}

// TestSubmitModeOverTLS: -ca verifies the server; a server from another CA
// is refused with the reason.
func TestSubmitModeOverTLS(t *testing.T) {
	mine, other := t.TempDir(), t.TempDir()
	for _, dir := range []string{mine, other} {
		if _, err := certs.Init(dir, certs.InitOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	server, err := tlsconf.ClientFiles{Cert: filepath.Join(mine, certs.ServerFile), Key: filepath.Join(mine, certs.ServerKey)}.ServerConfig()
	if err != nil {
		t.Fatal(err)
	}
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.Creds(credentials.NewTLS(server)))
	f := &fakeJobs{}
	pb.RegisterJobServiceServer(srv, f)
	go srv.Serve(lis)
	defer srv.Stop()
	for _, tt := range []struct {
		name, ca string
		calls    int64
		want     string
	}{
		{"right CA", mine, 20, "submit: 18 jobs in "},
		{"wrong CA", other, 0, "certificate signed by unknown authority"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			f.calls.Store(0)
			var out, errOut bytes.Buffer
			run(context.Background(), []string{"-addr", lis.Addr().String(), "-secret", secret, "-c", "2", "-n", "20",
				"-ca", filepath.Join(tt.ca, certs.CAFile)}, &out, &errOut)
			if got := f.calls.Load(); got != tt.calls || !strings.Contains(out.String()+errOut.String(), tt.want) {
				t.Fatalf("%d calls (want %d); output lacks %q:\n%s%s", got, tt.calls, tt.want, out.String(), errOut.String())
			}
		})
	}
}
