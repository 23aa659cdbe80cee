package grpcclient_test

import (
	"context"
	"net"
	"sync/atomic"
	"testing"
	"time"

	"github.com/cyxwiz/central-server/adapters/grpcclient"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/health"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	"google.golang.org/grpc/status"
)

// replica serves gRPC health on a loopback port; calls counts the checks
// it answered.
func replica(t *testing.T, calls *atomic.Int64) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := grpc.NewServer(grpc.UnaryInterceptor(func(ctx context.Context, req any, _ *grpc.UnaryServerInfo, h grpc.UnaryHandler) (any, error) {
		calls.Add(1)
		return h(ctx, req)
	}))
	healthpb.RegisterHealthServer(srv, health.NewServer())
	go srv.Serve(lis)
	t.Cleanup(srv.Stop)
	return lis.Addr().String()
}

// deadAddr is a loopback address nothing listens on.
func deadAddr(t *testing.T) string {
	t.Helper()
	lis, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := lis.Addr().String()
	lis.Close()
	return addr
}

// TestDialSpreadsAndFailsOver: calls through a list of replicas are spread
// over the live ones, and none fails because one replica is down.
func TestDialSpreadsAndFailsOver(t *testing.T) {
	var a, b atomic.Int64
	target := deadAddr(t) + "," + replica(t, &a) + ", " + replica(t, &b)
	cc, err := grpcclient.Dial(target)
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	client := healthpb.NewHealthClient(cc)
	for i := range 60 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		_, err := client.Check(ctx, &healthpb.HealthCheckRequest{})
		cancel()
		if err != nil {
			t.Fatalf("call %d through %s: %v", i, target, err)
		}
	}
	if a.Load() == 0 || b.Load() == 0 {
		t.Errorf("calls per live replica: %d and %d, want both used (round-robin)", a.Load(), b.Load())
	}
}

// TestDialRefusals: no address is an error; a single address works as
// before.
func TestDialRefusals(t *testing.T) {
	if _, err := grpcclient.Dial("  "); err == nil {
		t.Error("Dial of no address succeeded")
	}
	var n atomic.Int64
	cc, err := grpcclient.Dial(replica(t, &n))
	if err != nil {
		t.Fatal(err)
	}
	defer cc.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := healthpb.NewHealthClient(cc).Check(ctx, &healthpb.HealthCheckRequest{}); status.Code(err) != codes.OK {
		t.Errorf("single address: %v", err)
	}
}
